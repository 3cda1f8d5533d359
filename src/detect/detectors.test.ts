import { describe, expect, it } from 'vitest'
import { detectorContract, gaussian, run, testRng } from './detector.contract.js'
import {
  DETECTOR_NAMES,
  Ensemble,
  RobustZ,
  createCalibrated,
  createDetector,
  restoreDetector,
} from './index.js'

for (const name of DETECTOR_NAMES) {
  detectorContract(name, (seed) => createDetector(name, { seed }), restoreDetector)
}

const DAY = 288

/** Five-minute samples of a daily cycle (peak mid-day) with noise: 8 days. */
function daily(seed: number, days = 8): number[] {
  const rng = testRng(seed)
  return Array.from(
    { length: days * DAY },
    (_, i) => 1000 + 600 * Math.sin((2 * Math.PI * i) / DAY) + 20 * gaussian(rng),
  )
}

/**
 * Behaviour per detector as `vigil detect --detector NAME` runs it (calibrated, season removed).
 * HST and Isolation Forest carry evidence that grows only slowly beyond the reference range (mass
 * ratios, log-distance path savings), so they must outrank the previous day rather than reach the
 * alarm level.
 */
const STRONG = new Set(['ensemble', 'robust-z', 'rolling-quantile', 'cusum'])

describe.each(DETECTOR_NAMES.filter((n) => n !== 'poisson'))(
  '%s (calibrated, as vigil detect runs it)',
  (name) => {
    // Half-Space Trees and Isolation Forest rank a univariate spike first but do not reach the
    // alarm level: HST's mass evidence saturates, and Isolation Forest's path savings grow only with
    // the log of the distance (here 0.44 against 0.5). Known weakness: docs/detection.md.
    it('scores a spike high', () => {
      const v = daily(1)
      const at = 6 * DAY + 100
      v[at] += 800
      const scores = run(createCalibrated(name, { stepMs: 300_000 }), v)
      if (STRONG.has(name)) expect(scores[at]).toBeGreaterThan(0.5)
      expect(scores[at]).toBeGreaterThan(Math.max(...scores.slice(5 * DAY, at)))
    })

    it('does not flag the daily peak', () => {
      const scores = run(createCalibrated(name, { stepMs: 300_000 }), daily(2))
      // peaks are at phase DAY/4 of each day; after warm-up none of them stands out
      const peaks = [4, 5, 6, 7].map((d) => scores[d * DAY + DAY / 4])
      expect(Math.max(...peaks)).toBeLessThan(0.5)
    })

    it('catches a level shift, then accepts it as the new normal', () => {
      const v = daily(3, 10)
      const at = 6 * DAY
      for (let i = at; i < v.length; i++) v[i] += 500
      const scores = run(createCalibrated(name, { stepMs: 300_000 }), v)
      const caught = Math.max(...scores.slice(at, at + 24))
      if (STRONG.has(name)) expect(caught).toBeGreaterThan(0.4)
      expect(caught).toBeGreaterThan(Math.max(...scores.slice(at - DAY, at)))
      expect(Math.max(...scores.slice(at + 2 * DAY))).toBeLessThan(0.5)
    })
  },
)

describe('poisson', () => {
  it('judges an error burst on a quiet route by probability', () => {
    const rng = testRng(4)
    const d = createDetector('poisson')
    const counts = Array.from({ length: 600 }, () => (rng() < 0.05 ? 1 : 0))
    run(d, counts)
    expect(d.score(1)).toBeLessThan(0.99)
    expect(d.score(6)).toBeGreaterThan(0.999)
  })
})

describe('poisson on a non-integer series (quasi-Poisson)', () => {
  it('judges a latency the same in seconds and in milliseconds (φ carries the unit)', () => {
    const rng = testRng(9)
    const secs = Array.from({ length: 600 }, () => 0.2 * Math.exp(0.1 * gaussian(rng)))
    const spikeOf = (scale: number): number => {
      const d = createDetector('poisson') as ReturnType<typeof createDetector> & {
        surprise(x: number): number
      }
      run(
        d,
        secs.map((x) => x * scale),
      )
      return d.surprise(0.4 * scale)
    }
    const s = spikeOf(1)
    expect(s).toBeGreaterThan(5)
    expect(Math.abs(spikeOf(1000) - s)).toBeLessThan(0.1 * s)
  })
})

describe('gaps and bad input', () => {
  it('the ensemble skips a missing point: score 0, nothing learned', () => {
    const a = createCalibrated('ensemble')
    const b = createCalibrated('ensemble')
    const v = daily(5, 2)
    const sa = v.map((x, i) => (i === 300 ? a.process(NaN).score : 0) + a.process(x).score)
    const sb = v.map((x) => b.process(x).score)
    expect(sa).toEqual(sb)
  })

  it('an unknown detector name is VGL_ERR_DETECT_UNKNOWN and lists the names', () => {
    expect(() => createDetector('nope')).toThrow(/robust-z/)
    expect(() => createDetector('nope')).toThrow(expect.objectContaining({ code: 'VGL_ERR_DETECT_UNKNOWN' }))
  })

  it('a constant series scores 0 and a later change scores high', () => {
    const v = Array.from({ length: 800 }, () => 5.5)
    v[700] = 9.5
    const scores = run(createCalibrated('ensemble'), v)
    expect(Math.max(...scores.slice(0, 700))).toBe(0)
    expect(scores[700]).toBeGreaterThan(0.5)
  })

  it('a constant count series (jittered for the generic members) stays low until it changes', () => {
    const v = Array.from({ length: 800 }, () => 5)
    v[700] = 9
    const scores = run(createCalibrated('ensemble'), v)
    expect(Math.max(...scores.slice(0, 700))).toBeLessThan(0.5)
    expect(scores[700]).toBeGreaterThan(0.5)
  })
})

describe('weekly traffic', () => {
  it('is silent on every weekend after the first, and still catches spikes on weekdays and weekends', () => {
    const rng = testRng(21)
    const spikes = [30 * DAY + 100, 40 * DAY + 200] // a Thursday and a Sunday
    const values: number[] = []
    for (let i = 0; i < 6 * 7 * DAY; i++) {
      const weekend = Math.floor(i / DAY) % 7 >= 5
      const m = 1000 * (1 + 0.5 * Math.sin((2 * Math.PI * i) / DAY)) * (weekend ? 0.6 : 1)
      values.push(Math.round(m * (spikes.includes(i) ? 2.5 : 1) * Math.exp(0.03 * gaussian(rng))))
    }
    const d = createCalibrated('ensemble', { stepMs: 300_000 })
    const raised = values.flatMap((x, i) => (d.process(x).alarm === 'raised' ? [i] : []))
    // the first weekend is a step nothing in five days announced; from the second on, the level of
    // a week before at the same phase is a plausible baseline
    expect(raised.filter((i) => i >= 7 * DAY)).toEqual(spikes)
  })
})

describe('robust-z: min over plausible baselines', () => {
  // a daily series with a two-day dip to 60% (a weekend) on days 5 and 6, back to normal on day 7
  const v = daily(4, 9).map((x, i) => (i >= 5 * DAY && i < 7 * DAY ? 0.6 * x : x))
  const surprises = (recall: number): number[] => {
    const r = new RobustZ({ stepMs: 300_000, recall })
    return v.map((x) => {
      const s = r.surprise(x)
      r.update(x)
      return s
    })
  }

  it('judges a return to an earlier regime against that regime, and a new regime against the nearest', () => {
    const on = surprises(7)
    const off = surprises(0)
    const back = 7 * DAY
    expect(Math.max(...off.slice(back, back + 12))).toBeGreaterThan(10)
    expect(Math.max(...on.slice(back, back + 12))).toBeLessThan(5)
    // the first weekend is a regime never seen before: still surprising
    expect(Math.max(...on.slice(5 * DAY, 5 * DAY + 12))).toBeGreaterThan(10)
  })

  it('continues identically after snapshot/restore (the level ring is state)', () => {
    const a = new RobustZ({ stepMs: 300_000 })
    for (const x of v.slice(0, 6 * DAY)) a.update(x)
    const b = new RobustZ({ stepMs: 300_000 }).restore(a.snapshot())
    for (const x of v.slice(6 * DAY)) {
      expect(b.surprise(x)).toBe(a.surprise(x))
      a.update(x)
      b.update(x)
    }
  })
})

describe('snapshots from before the CUSUM long-run scale and the Isolation Forest node ranges', () => {
  const v = daily(6, 3)
  it.each(['cusum', 'iforest'])('%s: restores and keeps scoring', (name) => {
    const a = createDetector(name)
    run(a, v.slice(0, 600))
    const snap = structuredClone(a.snapshot())
    const st = snap.state as Record<string, unknown> & { model?: { s: Record<string, unknown> } }
    if (name === 'cusum') for (const k of ['batchSum', 'batchN', 'batches', 'lrf']) delete st[k]
    else for (const k of ['lo', 'hi', 'boxLo', 'boxHi']) delete st.model?.s[k]
    const b = restoreDetector(snap)
    const scores = run(b, v.slice(600))
    for (const s of scores) expect(Number.isFinite(s)).toBe(true)
  })
})

describe('calibration after an extreme anomaly', () => {
  // SPOT's rule: a point judged anomalous does not enter the calibration history, so an outage-sized
  // burst does not widen the tail for the next ~1000 points (the ratio was 0.19 to 0.56 before)
  it.each(['ensemble', 'robust-z', 'rolling-quantile', 'poisson'])(
    '%s: a spike two days after a burst scores at least 3/4 of what it scores alone',
    (name) => {
      const at = 6 * DAY + 100
      const alone = daily(4)
      alone[at] += 300
      const after = daily(4)
      after[at] += 300
      for (let i = 4 * DAY; i < 4 * DAY + 3; i++) after[i] += 3000
      const a = run(createCalibrated(name, { stepMs: 300_000 }), alone)[at]
      const b = run(createCalibrated(name, { stepMs: 300_000 }), after)[at]
      expect(a).toBeGreaterThan(0.3)
      expect(b).toBeGreaterThan(0.75 * a)
    },
  )
})

describe('ensemble merging rule', () => {
  // a quiet count series with a daily cycle; a clear spike near the end
  const rng = testRng(11)
  const counts = Array.from({ length: 6 * DAY }, (_, i) => {
    const m = 200 * (1 + 0.5 * Math.sin((2 * Math.PI * i) / DAY))
    return Math.max(0, Math.round(m + Math.sqrt(m) * gaussian(rng)))
  })
  const at = 5 * DAY + 150
  counts[at] *= 3

  const alarms = (combine: 'geometric' | 'harmonic'): { raised: number; top: number; spike: number } => {
    const e = new Ensemble({ combine, stepMs: 300_000 })
    let raised = 0
    let top = 0
    let spike = 0
    counts.forEach((x, i) => {
      const step = e.process(x)
      if (i === at) spike = step.score
      else {
        if (step.alarm === 'raised') raised++
        top = Math.max(top, step.score)
      }
    })
    return { raised, top, spike }
  }

  it('the geometric mean (default) needs agreement: no more alarms than the harmonic mean, spikes still caught', () => {
    const g = alarms('geometric')
    const h = alarms('harmonic')
    expect(g.raised).toBeLessThanOrEqual(h.raised)
    expect(g.top).toBeLessThan(h.top)
    expect(g.top).toBeLessThan(0.3)
    expect(g.spike).toBeGreaterThan(0.5)
    expect(h.spike).toBeGreaterThan(0.5)
  })
})
