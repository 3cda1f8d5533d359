import { describe, expect, it } from 'vitest'
import type { LearningSummary } from '../lib/types.js'
import { allLearning, learningLine } from './learning-line.js'

const summary = (o: Partial<LearningSummary>): LearningSummary => ({
  series: 3,
  learningSeries: 3,
  windowsLearned: 41,
  windowsNeeded: 91,
  etaMs: 50 * 3_600,
  windowMs: 3_600,
  ...o,
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
    expect(
      learningLine(summary({ series: 12, learningSeries: 2, windowsLearned: 5, etaMs: 86 * 10_000 })),
    ).toBe('Learning 2 new of 12 series: detection on them starts in about 14 min (5 of 91 windows)')
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
