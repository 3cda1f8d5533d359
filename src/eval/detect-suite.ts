/** @module A generated, labelled suite of API-metric series for evaluating detectors: anomalies and labelled-normal traps. */

/** One labelled anomaly window, in point indices (inclusive). */
export interface AnomalyWindow {
  readonly start: number
  readonly end: number
  readonly kind: string
}

export interface LabelledSeries {
  readonly name: string
  /** rate, latency, errors, or trap */
  readonly family: string
  readonly stepMinutes: number
  readonly values: number[]
  readonly anomalies: AnomalyWindow[]
  /** labelled-normal traps present in the series (for the report; they carry no window) */
  readonly traps: string[]
}

const STEP_MIN = 5
const DAY = (24 * 60) / STEP_MIN
/** Ten simulated days per series: two to warm up, anomalies after day three. */
export const SUITE_DAYS = 10
export const WARMUP_POINTS = 2 * DAY
const N = SUITE_DAYS * DAY

class Rng {
  #s: number
  constructor(seed: number) {
    this.#s = seed | 0
  }
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) | 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  range(a: number, b: number): number {
    return a + (b - a) * this.next()
  }
  int(a: number, b: number): number {
    return Math.floor(this.range(a, b + 1))
  }
  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next())
  }
  poisson(mean: number): number {
    if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()))
    const l = Math.exp(-mean)
    let k = 0
    let p = 1
    do {
      k++
      p *= this.next()
    } while (p > l)
    return k - 1
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]
  }
}

/** Expected load shape: daily cycle (peak mid-afternoon), weekend factor, growth, optional holiday. */
function loadShape(rng: Rng, opts: { holidayDay?: number; growth?: number }): number[] {
  const amp = rng.range(0.3, 0.7)
  const weekend = rng.range(0.55, 0.95)
  const growth = opts.growth ?? rng.range(0, 0.15)
  const phase = rng.range(0, 2 * Math.PI)
  const out: number[] = []
  for (let i = 0; i < N; i++) {
    const day = Math.floor(i / DAY)
    const dow = day % 7
    let v =
      1 + amp * Math.sin((2 * Math.PI * i) / DAY + phase) + 0.15 * amp * Math.sin((4 * Math.PI * i) / DAY)
    if (dow === 5 || dow === 6) v *= weekend
    if (opts.holidayDay !== undefined && day === opts.holidayDay) v *= 0.6
    v *= 1 + (growth * i) / N
    out.push(Math.max(0.02, v))
  }
  return out
}

function anomalyStart(rng: Rng, taken: AnomalyWindow[]): number {
  for (;;) {
    const t = rng.int(3 * DAY, N - DAY / 2)
    if (taken.every((w) => t > w.end + DAY / 2 || t < w.start - DAY / 2)) return t
  }
}

/** After a spike or burst ends, a detection up to 30 minutes late still counts. */
const TOLERANCE = 6

function rateSeries(rng: Rng, idx: number, scale: number): LabelledSeries {
  const shape = loadShape(rng, {})
  const noise = rng.range(0.02, 0.06)
  const base = shape.map((s) => s * scale)
  const values = base.map((m) => rng.poisson(m * Math.exp(noise * rng.normal())))
  const anomalies: AnomalyWindow[] = []
  // the level in force (a level shift multiplies it from its start), so an anomaly placed after a
  // shift is relative to the shifted level, and a shift placed before an earlier-generated anomaly
  // keeps that anomaly in the data (it used to overwrite it: 7 of 337 labelled windows over seeds
  // 1-6 had nothing in them)
  const level = new Float64Array(N).fill(1)
  const kinds = ['spike', 'dip', 'level-shift', 'outage']
  const count = rng.int(1, 2)
  for (let a = 0; a < count; a++) {
    const kind = kinds[(idx + a) % kinds.length]
    const t = anomalyStart(rng, anomalies)
    if (kind === 'spike') {
      const len = rng.int(1, 3)
      const f = rng.range(1.8, 3)
      for (let i = t; i < t + len; i++) values[i] = rng.poisson(base[i] * level[i] * f)
      anomalies.push({ start: t, end: t + len - 1 + TOLERANCE, kind })
    } else if (kind === 'dip') {
      const len = rng.int(2, 6)
      for (let i = t; i < t + len; i++) values[i] = rng.poisson(base[i] * level[i] * 0.35)
      anomalies.push({ start: t, end: t + len - 1 + TOLERANCE, kind })
    } else if (kind === 'level-shift') {
      const f = rng.pick([0.55, 1.6, 1.8])
      for (let i = t; i < N; i++) {
        const v = rng.poisson(base[i] * f * Math.exp(noise * rng.normal()))
        level[i] *= f
        values[i] = anomalies.some((w) => i >= w.start && i <= w.end) ? Math.round(values[i] * f) : v
      }
      anomalies.push({ start: t, end: t + 24, kind })
    } else {
      const len = rng.int(6, 24)
      for (let i = t; i < t + len; i++) values[i] = rng.poisson(base[i] * level[i] * 0.03)
      anomalies.push({ start: t, end: t + len - 1 + TOLERANCE, kind })
    }
  }
  return {
    name: `rate-${idx}`,
    family: 'rate',
    stepMinutes: STEP_MIN,
    values,
    anomalies,
    traps: ['daily peak', 'weekend dip', 'growth'],
  }
}

function latencySeries(rng: Rng, idx: number): LabelledSeries {
  const shape = loadShape(rng, {})
  const baseMs = rng.range(40, 300)
  const slope = rng.range(0.3, 1.2)
  const noise = rng.range(0.05, 0.12)
  const base = shape.map((s) => baseMs * (1 + slope * Math.max(0, s - 0.6) ** 2))
  const eps = base.map(() => noise * rng.normal())
  const values = base.map((b, i) => b * Math.exp(eps[i]))
  const anomalies: AnomalyWindow[] = []
  const kinds = ['latency-drift', 'spike', 'level-shift', 'variance-change']
  const kind = kinds[idx % kinds.length]
  const t = anomalyStart(rng, anomalies)
  if (kind === 'latency-drift') {
    const len = rng.int(36, 96)
    const top = rng.range(0.6, 1.2)
    for (let i = t; i < N; i++) values[i] *= 1 + top * Math.min(1, (i - t) / len)
    anomalies.push({ start: t, end: t + len, kind })
  } else if (kind === 'spike') {
    const len = rng.int(1, 4)
    for (let i = t; i < t + len; i++) values[i] *= rng.range(2.5, 5)
    anomalies.push({ start: t, end: t + len - 1 + TOLERANCE, kind })
  } else if (kind === 'level-shift') {
    const f = rng.range(1.5, 2)
    for (let i = t; i < N; i++) values[i] *= f
    anomalies.push({ start: t, end: t + 24, kind })
  } else {
    const len = rng.int(DAY / 4, DAY / 2)
    for (let i = t; i < t + len; i++) values[i] = base[i] * Math.exp(eps[i] * 4)
    anomalies.push({ start: t, end: t + len, kind })
  }
  return {
    name: `latency-${idx}`,
    family: 'latency',
    stepMinutes: STEP_MIN,
    values: values.map((v) => Math.round(v * 10) / 10),
    anomalies,
    traps: ['load-dependent tail'],
  }
}

function errorSeries(rng: Rng, idx: number): LabelledSeries {
  const low = idx % 2 === 0
  const shape = loadShape(rng, {})
  const scale = low ? rng.range(20, 80) : rng.range(2000, 20000)
  const ratio = rng.range(0.002, 0.02)
  const requests = shape.map((s) => rng.poisson(s * scale))
  const values = requests.map((n) => rng.poisson(n * ratio))
  const anomalies: AnomalyWindow[] = []
  const t = anomalyStart(rng, anomalies)
  const len = rng.int(3, 12)
  const boost = low ? rng.range(15, 30) : rng.range(4, 10)
  for (let i = t; i < t + len; i++) values[i] = rng.poisson(requests[i] * Math.min(0.9, ratio * boost))
  anomalies.push({ start: t, end: t + len - 1 + TOLERANCE, kind: 'error-burst' })
  return {
    name: `errors-${low ? 'low' : 'high'}-${idx}`,
    family: 'errors',
    stepMinutes: STEP_MIN,
    values,
    anomalies,
    traps: low ? ['low-traffic noise'] : ['daily peak'],
  }
}

function trapSeries(rng: Rng, idx: number): LabelledSeries {
  const kind = ['holiday dip', 'strong growth', 'noisy low traffic', 'weekly peak'][idx % 4]
  let values: number[]
  if (kind === 'holiday dip') {
    const shape = loadShape(rng, { holidayDay: rng.int(4, 8) })
    values = shape.map((s) => rng.poisson(s * 800))
  } else if (kind === 'strong growth') {
    const shape = loadShape(rng, { growth: rng.range(0.5, 1) })
    values = shape.map((s) => rng.poisson(s * 3000))
  } else if (kind === 'noisy low traffic') {
    const shape = loadShape(rng, {})
    const m = rng.range(0.5, 4)
    values = shape.map((s) => rng.poisson(s * m))
  } else {
    const shape = loadShape(rng, {})
    values = shape.map((s, i) => rng.poisson(s * 500 * (Math.floor(i / DAY) % 7 === 2 ? 1.35 : 1)))
  }
  return { name: `trap-${idx}`, family: 'trap', stepMinutes: STEP_MIN, values, anomalies: [], traps: [kind] }
}

/**
 * The evaluation suite: 16 request-rate series (scales 20 to 50,000 per 5 minutes; spikes, dips,
 * level shifts, outages), 16 latency series (load-dependent tails; drifts, spikes, shifts, variance
 * changes), 16 error-count series (half at low traffic; bursts) and 16 anomaly-free trap series
 * (holiday dip, strong growth, noisy low traffic, a recurring weekly peak). Deterministic per seed.
 */
export function generateDetectSuite(seed = 1): LabelledSeries[] {
  const rng = new Rng(seed)
  const out: LabelledSeries[] = []
  const scales = [20, 300, 5000, 50000]
  for (let i = 0; i < 16; i++) out.push(rateSeries(rng, i, scales[i % 4]))
  for (let i = 0; i < 16; i++) out.push(latencySeries(rng, i))
  for (let i = 0; i < 16; i++) out.push(errorSeries(rng, i))
  for (let i = 0; i < 16; i++) out.push(trapSeries(rng, i))
  return out
}
