import { describe, expect, it } from 'vitest'
import type { ReplayRuleSummary } from '../../control/alert-replay.js'
import { formatReport } from './simulate-alerts.js'

const T0 = Date.UTC(2026, 11, 7, 13, 42)
const rule: ReplayRuleSummary = {
  rule: 'errors',
  kind: 'error-ratio',
  mode: 'enforce',
  firings: 0,
  pages: 0,
  series: 0,
  firingMs: 0,
}

describe('formatReport (vigil simulate alerts)', () => {
  it('says when the store held no window over the range, naming it, rather than a table of zeros alone', () => {
    // what a newcomer gets replaying `vigil demo` with examples/demo.yaml after the run
    const empty = { fromMs: T0, toMs: T0 + 600_000, windows: 0, rules: [rule], firings: [] }
    const text = formatReport(empty, './data/demo.db')
    expect(text.split('\n')[1]).toBe(
      'no window is stored in ./data/demo.db over that range: check that --config names the store the run wrote' +
        ' (vigil demo keeps its data in a temporary directory, removed at the end unless --keep-data;' +
        ' set VIGIL_DEMO_DATA to that directory for examples/demo.yaml)',
    )
    expect(text).toMatch(/^errors +error-ratio +enforce +0 +0 +0 +0s$/m)
  })

  it('adds no note when windows were replayed', () => {
    const text = formatReport({ fromMs: T0, toMs: T0 + 600_000, windows: 893, rules: [rule], firings: [] })
    expect(text.split('\n').slice(0, 2)).toEqual([
      'alert rules replayed over 2026-12-07T13:42:00.000Z .. 2026-12-07T13:52:00.000Z (893 windows)',
      '',
    ])
    expect(text).not.toMatch(/no window is stored/)
  })
})
