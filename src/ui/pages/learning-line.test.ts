import { describe, expect, it } from 'vitest'
import type { LearningSummary } from '../lib/types.js'
import {
  allLearning,
  anomaliesUnavailable,
  learningLine,
  seriesLearning,
  serviceLearning,
} from './learning-line.js'

const summary = (o: Partial<LearningSummary>): LearningSummary => ({
  series: 3,
  learningSeries: 3,
  windowsLearned: 41,
  windowsNeeded: 91,
  etaMs: 50 * 3_600,
  windowMs: 3_600,
  services: [],
  ...o,
})

/** users (demo) appeared after the others were judged: two of its three series still learn */
const lateUsers = summary({
  series: 12,
  learningSeries: 2,
  windowsLearned: 5,
  etaMs: 86 * 10_000,
  windowMs: 10_000,
  services: [
    {
      service: 'users',
      env: 'demo',
      series: 3,
      learningSeries: 2,
      keys: ['users|/api/test|demo', 'users|/api/test/slow|demo'],
      windowsLearned: 5,
      etaMs: 86 * 10_000,
    },
    {
      service: 'shop',
      env: 'demo',
      series: 4,
      learningSeries: 1,
      keys: ['shop|/api/browse/new|demo'],
      windowsLearned: 85,
      etaMs: 6 * 10_000,
    },
  ],
})

describe('learningLine', () => {
  it('says when detection starts while every live series is learning', () => {
    expect(learningLine(summary({}))).toBe(
      'Learning the traffic: detection starts in about 3 min (41 of 91 windows)',
    )
    expect(learningLine(summary({ windowsLearned: 90, etaMs: 10_000 }))).toBe(
      'Learning the traffic: detection starts in under a minute (90 of 91 windows)',
    )
    expect(learningLine(summary({ windowsLearned: 0, etaMs: 91 * 3_600_000 }))).toBe(
      'Learning the traffic: detection starts in about 91 h (0 of 91 windows)',
    )
  })

  it('names how many series are new when the others are already judged', () => {
    expect(learningLine(lateUsers)).toBe(
      'Learning 2 new of 12 series: detection on them starts in about 14 min (5 of 91 windows)',
    )
  })

  it('says nothing once every series is judged, with no series, or before the summary arrives', () => {
    expect(learningLine(summary({ learningSeries: 0, windowsLearned: null, etaMs: null }))).toBeNull()
    expect(
      learningLine(summary({ series: 0, learningSeries: 0, windowsLearned: null, etaMs: null })),
    ).toBeNull()
    expect(learningLine(undefined)).toBeNull()
  })

  it('every service reads as learning only while every live series is', () => {
    expect(allLearning(summary({}))).toBe(true)
    expect(allLearning(summary({ series: 12, learningSeries: 2 }))).toBe(false)
    expect(allLearning(summary({ series: 0, learningSeries: 0, windowsLearned: null, etaMs: null }))).toBe(
      false,
    )
    expect(allLearning(undefined)).toBe(false)
  })
})

describe('serviceLearning', () => {
  it('gives a service still learning its own time, not the system-wide one', () => {
    expect(serviceLearning(lateUsers, 'users', 'demo')).toEqual({
      text: 'learning (about 14 min)',
      title:
        'users (demo): learning 2 new of its 3 series; detection on them starts in about 14 min (5 of 91 windows)',
    })
    expect(serviceLearning(lateUsers, 'shop', 'demo')).toEqual({
      text: 'learning (about 1 min)',
      title:
        'shop (demo): learning 1 new of its 4 series; detection on it starts in about 1 min (85 of 91 windows)',
    })
  })

  it('says nothing for a service whose series are all judged, in another env, or before the summary', () => {
    expect(serviceLearning(lateUsers, 'payments', 'demo')).toBeNull()
    expect(serviceLearning(lateUsers, 'users', 'prod')).toBeNull()
    expect(serviceLearning(undefined, 'users', 'demo')).toBeNull()
  })

  it('a service whose every series learns says so without "new"', () => {
    const s = summary({
      services: [
        {
          service: 'users',
          env: 'demo',
          series: 1,
          learningSeries: 1,
          keys: [],
          windowsLearned: 41,
          etaMs: 50 * 3_600,
        },
      ],
    })
    expect(serviceLearning(s, 'users', 'demo')?.title).toBe(
      'users (demo): learning its series; detection on it starts in about 3 min (41 of 91 windows)',
    )
  })

  it('from a control plane without the per-service list, every service learns while all series do', () => {
    const { services: _, ...old } = summary({})
    expect(serviceLearning(old as LearningSummary, 'users', 'demo')).toEqual({
      text: 'learning (about 3 min)',
      title: 'Learning the traffic: detection starts in about 3 min (41 of 91 windows)',
    })
    const { services: __, ...judged } = summary({ series: 12, learningSeries: 2 })
    expect(serviceLearning(judged as LearningSummary, 'users', 'demo')).toBeNull()
  })
})

describe('seriesLearning', () => {
  it('marks the series still learning, with at most its service’s time', () => {
    expect(seriesLearning(lateUsers, 'users|/api/test|demo')).toEqual({
      text: 'learning (about 14 min)',
      title:
        'Learning this series: detection on it starts in about 14 min at the latest (nothing opens on it before)',
    })
    expect(seriesLearning(lateUsers, 'shop|/api/browse/new|demo')?.text).toBe('learning (about 1 min)')
  })

  it('says nothing for a judged series of a service that is partly learning', () => {
    expect(seriesLearning(lateUsers, 'users|*|demo')).toBeNull()
    expect(seriesLearning(lateUsers, 'shop|/api/browse|demo')).toBeNull()
    expect(seriesLearning(undefined, 'users|/api/test|demo')).toBeNull()
  })
})

describe('anomaliesUnavailable', () => {
  it('says "unavailable", naming why, where the feed could not read anomalies (a standby), never "none"', () => {
    const leader = 'this control plane does not lead: the leader is cp-1 (admin API at http://10.0.0.1:8082)'
    expect(anomaliesUnavailable(leader)).toEqual({
      text: 'unavailable',
      title: `Anomalies cannot be read here: ${leader}`,
      tone: 'warn',
    })
    expect(anomaliesUnavailable(undefined)).toBeNull()
  })
})
