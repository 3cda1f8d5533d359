import { describe, expect, it } from 'vitest'
import { lastChange, plainEvidence, replicasSub, replicasText, scaleEventWords } from './scale-evidence.js'

describe('plainEvidence', () => {
  it("tells a replica started below min by its own fields, not by the policy's name", () => {
    // the demo's first scaling event: users 0 → 1 at start
    expect(plainEvidence({ min: 1, running: 0 })).toBe('min 1 · running 0')
  })

  it('lists words and lists, and leaves nested records out', () => {
    expect(
      plainEvidence({
        actuator: 'process',
        adopted: ['users-1', 'users-2'],
        stopped: [],
        startup: { seenMs: 5 },
      }),
    ).toBe('actuator process · adopted users-1, users-2 · stopped none')
  })

  it('is null when there is nothing to tell', () => {
    expect(plainEvidence(null)).toBeNull()
    expect(plainEvidence({})).toBeNull()
    expect(plainEvidence({ nested: { a: 1 } })).toBeNull()
    expect(plainEvidence([1, 2])).toBeNull()
  })
})

describe('scaleEventWords', () => {
  const rec = (kind: string, before: unknown, after: unknown, status = 'ok') => ({
    kind,
    policy: kind === 'scale.manual' ? 'admin' : 'autoscale',
    before,
    after,
    result: { status },
  })

  it('tells an actuator failing as a problem, not as a successful scale-down to the same count', () => {
    expect(scaleEventWords(rec('scale.alert', 3, 3))).toEqual({
      what: 'actuator failing',
      arrow: '',
      move: '–',
      result: 'failing',
      alarm: true,
    })
    expect(scaleEventWords(rec('scale.recovered', 1, 1))).toMatchObject({
      what: 'actuator works again',
      move: '–',
      result: 'ok',
      alarm: false,
    })
  })

  it('points the arrow the way the count moved, and none when it did not move', () => {
    expect(scaleEventWords(rec('scale.replicas', 1, 4))).toMatchObject({
      what: 'autoscale',
      arrow: '▲ ',
      move: '1 → 4',
    })
    expect(scaleEventWords(rec('scale.replicas', 4, 1, 'failed'))).toMatchObject({
      arrow: '▼ ',
      result: 'failed',
    })
    expect(scaleEventWords(rec('scale.manual', 2, 2))).toMatchObject({
      what: 'manual scale',
      arrow: '',
      move: '2 → 2',
    })
    expect(scaleEventWords(rec('scale.restart', 3, 3))).toMatchObject({
      what: 'restart',
      arrow: '',
      move: '–',
    })
  })
})

describe('lastChange', () => {
  it('is the newest action that asked for a count, past an actuator alert or recovery', () => {
    const acts = [
      { id: 'a', kind: 'scale.alert' },
      { id: 'r', kind: 'scale.recovered' },
      { id: 'm', kind: 'scale.manual' },
      { id: 'x', kind: 'scale.replicas' },
    ]
    expect(lastChange(acts)?.id).toBe('m')
    expect(lastChange(acts.slice(0, 2))).toBeUndefined()
  })
})

describe('replicasText and replicasSub', () => {
  it('a shadow service with nothing started: what it would run, not "0 ready"', () => {
    expect(replicasText({ mode: 'shadow', current: 1, ready: 0, desired: 2 })).toBe(
      'would run 1 ▲ 2 (shadow)',
    )
    expect(replicasSub({ mode: 'shadow', replicas: [], desired: 2 })).toBe(
      'would run (shadow): none started, the configured targets serve · desired 2',
    )
  })

  it('an enforced service: the count, how many are ready and where it is heading', () => {
    expect(replicasText({ mode: 'enforce', current: 3, ready: 2, desired: 4 })).toBe('3 (2 ready) ▲ 4')
    expect(replicasText({ mode: 'enforce', current: 3, ready: 3, desired: 3 })).toBe('3')
    expect(replicasText(undefined)).toBe('–')
    expect(replicasSub({ mode: 'enforce', replicas: [{ ready: true }, { ready: false }], desired: 2 })).toBe(
      '1 ready · desired 2',
    )
  })
})
