import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  BusAuditLog,
  decodeAuditEvent,
  encodeAuditEvent,
  JsonlAuditLog,
  MemoryAuditLog,
  TeeAuditLog,
  type AuditEvent,
} from './audit.js'

describe('JsonlAuditLog', () => {
  it('appends one JSON object per line with every field', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'vigil-audit-')), 'sub', 'audit.jsonl')
    const log = new JsonlAuditLog(path)
    const base = { at: '2026-01-01T00:00:00.000Z', actor: 'admin', reason: 'test' }
    log.record({
      ...base,
      kind: 'limits.tier.update',
      subject: 'STD',
      before: { ratePerSec: 1 },
      after: { ratePerSec: 2 },
    })
    log.record({ ...base, kind: 'limits.key.revoke', subject: 'k1', before: null, after: undefined })
    const lines = readFileSync(path, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toHaveLength(2)
    expect(lines[0]).toEqual({
      ...base,
      kind: 'limits.tier.update',
      subject: 'STD',
      before: { ratePerSec: 1 },
      after: { ratePerSec: 2 },
    })
    expect(lines[1]!.after).toBeNull()
  })
})

describe('JsonlAuditLog on a disk that refuses writes', () => {
  // /dev/full answers every write with ENOSPC, as a full disk does
  it.skipIf(!existsSync('/dev/full'))(
    'keeps the lines, warns once, and appends them whole and in order once the file takes them',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-audit-'))
      const path = join(dir, 'audit.jsonl')
      symlinkSync('/dev/full', path)
      const warnings: { code: string; message: string }[] = []
      const recovered: string[] = []
      const log = new JsonlAuditLog(path, {
        retryEveryMs: 50,
        onWarn: (e) => warnings.push({ code: e.code, message: e.message }),
        onRecovered: (m) => recovered.push(m),
      })
      const base = { at: '2026-01-01T00:00:00.000Z', actor: 'admin', reason: 'r', before: null, after: null }
      expect(() => log.record({ ...base, kind: 'limits.tier.update', subject: 'A' })).not.toThrow()
      log.record({ ...base, kind: 'limits.tier.update', subject: 'B' })
      expect(log.pending).toBe(2)
      expect(warnings).toEqual([
        { code: 'VGL_ERR_AUDIT_UNWRITABLE', message: expect.stringContaining(`${path}: ENOSPC`) as string },
      ])
      // space is back: the retry timer appends what was kept, without a new event
      rmSync(path)
      await vi.waitFor(() => expect(log.pending).toBe(0), { timeout: 2_000, interval: 20 })
      log.record({ ...base, kind: 'limits.tier.update', subject: 'C' })
      const subjects = readFileSync(path, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { subject: string }).subject)
      expect(subjects).toEqual(['A', 'B', 'C'])
      expect(recovered).toEqual([`${path} takes audit events again: 2 appended late`])
      expect(warnings).toHaveLength(1)
      log.close()
    },
  )

  it.skipIf(!existsSync('/dev/full'))(
    'keeps at most maxPending lines, dropping and counting the oldest',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-audit-'))
      const path = join(dir, 'audit.jsonl')
      symlinkSync('/dev/full', path)
      const warnings: string[] = []
      const log = new JsonlAuditLog(path, { maxPending: 2, onWarn: (e) => warnings.push(e.message) })
      const base = { at: '2026-01-01T00:00:00.000Z', actor: 'admin', reason: 'r', before: null, after: null }
      for (const subject of ['A', 'B', 'C']) log.record({ ...base, kind: 'limits.tier.update', subject })
      expect(log.pending).toBe(2)
      expect(log.stats.dropped).toBe(1)
      log.close() // still refused: says how many are lost
      expect(warnings.at(-1)).toContain('2 events recorded since it failed are not in it')
    },
  )
})

const event = (subject: string): AuditEvent => ({
  at: '2026-01-01T00:00:00.000Z',
  kind: 'limits.tier.update',
  actor: 'ops',
  subject,
  before: null,
  after: { ratePerSec: 5 },
  reason: 'test',
})

describe('TeeAuditLog', () => {
  it('gives each event one id that every sink sees', () => {
    const a = new MemoryAuditLog()
    const b = new MemoryAuditLog()
    const tee = new TeeAuditLog([a])
    tee.add(b)
    tee.record(event('STD'))
    tee.record(event('PRM'))
    expect(a.events.map((e) => e.id)).toEqual(b.events.map((e) => e.id))
    expect(new Set(a.events.map((e) => e.id)).size).toBe(2)
    expect(a.events[0]!.id).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe('audit events on the bus', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('round-trips an event and rejects malformed ones naming the field', () => {
    const e = { ...event('STD'), id: 'e1' }
    expect(decodeAuditEvent(encodeAuditEvent(e))).toEqual(e)
    const bad = (o: object) => new TextEncoder().encode(JSON.stringify({ v: 1, ...e, ...o }))
    expect(() => decodeAuditEvent(new TextEncoder().encode('{'))).toThrow(/not JSON/)
    expect(() => decodeAuditEvent(bad({ v: 2 }))).toThrow(/unknown version 2/)
    expect(() => decodeAuditEvent(bad({ actor: 3 }))).toThrow(/actor must be a string/)
    expect(() => decodeAuditEvent(bad({ at: 'yesterday' }))).toThrow(/at must be an ISO 8601 time/)
  })

  it('publishes in order with the id as msgId, and keeps what the bus refused for a later try', async () => {
    vi.useFakeTimers()
    const sent: Array<{ subject: string; id: string; msgId?: string }> = []
    let down = true
    const bus = {
      publish: async (subject: string, data: Uint8Array, o?: { msgId?: string }) => {
        if (down) throw new Error('nats: connection closed')
        sent.push({ subject, id: decodeAuditEvent(data).id, msgId: o?.msgId })
      },
    }
    const warnings: string[] = []
    const log = new BusAuditLog({ bus, subject: 'vigil.audit', onWarn: (m) => warnings.push(m) })
    log.record({ ...event('A'), id: 'a' })
    log.record({ ...event('B'), id: 'b' })
    await vi.advanceTimersByTimeAsync(2_000) // refused, retried with a growing delay
    log.record({ ...event('C'), id: 'c' })
    expect(log.pending).toBe(3)
    expect(log.stats.retried).toBeGreaterThan(1)
    expect(warnings).toHaveLength(1) // warned once, not per try
    down = false
    await vi.advanceTimersByTimeAsync(30_000)
    expect(sent).toEqual([
      { subject: 'vigil.audit', id: 'a', msgId: 'audit/a' },
      { subject: 'vigil.audit', id: 'b', msgId: 'audit/b' },
      { subject: 'vigil.audit', id: 'c', msgId: 'audit/c' },
    ])
    expect(log.pending).toBe(0)
    await log.close()
  })

  it('bounds the queue while the bus is away, dropping the oldest and counting them', async () => {
    vi.useFakeTimers()
    const bus = { publish: async () => Promise.reject(new Error('down')) }
    const log = new BusAuditLog({ bus, subject: 'vigil.audit', maxQueue: 3 })
    for (let i = 0; i < 5; i++) log.record({ ...event(`T${i}`), id: `e${i}` })
    expect(log.pending).toBe(3)
    expect(log.stats.dropped).toBe(2)
    await log.close(10)
  })
})
