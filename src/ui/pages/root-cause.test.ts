import { describe, expect, it } from 'vitest'
import { candidatesHeading } from './root-cause.js'

describe('the root-cause candidates of an alert', () => {
  it('are the likely causes when the symptom rose, or when an older answer does not say', () => {
    const rose = candidatesHeading({ moved: true, symptomReason: 'errors: error ratio 2.1% → 7.4%' })
    expect(rose).toEqual({ label: 'Likely causes, most likely first', note: null })
    expect(candidatesHeading({})).toEqual(rose)
  })

  it('say where the evidence lies now, with the numbers, when nothing rose', () => {
    expect(
      candidatesHeading({
        moved: false,
        symptomReason: 'nothing moved: error ratio 0.1% → 0.1%, p95 120 → 118 ms',
      }),
    ).toEqual({
      label: 'Where the evidence lies now, strongest first',
      note: 'Nothing rose against the baseline (error ratio 0.1% → 0.1%, p95 120 → 118 ms): these candidates explain no change.',
    })
  })
})
