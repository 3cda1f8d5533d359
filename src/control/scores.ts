/**
 * @module What the live detectors thought of each recent window of a series: the anomaly score of
 * every metric and the expected band they judged it against. Kept per series in a fixed ring of
 * 32-bit floats (84 bytes a window), so the dashboard can draw latency and errors inside their
 * bands and the scores over time without the store keeping anything more.
 */

/** Metrics with a band, in the ring's column order. `errorRatio` is the upstream's 5xx / the requests sent upstream (a point's `upstreamErrorRatio`). */
export const SCORED_METRICS = ['rate', 'errorRatio', 'p50', 'p95', 'p99'] as const
export type ScoredMetric = (typeof SCORED_METRICS)[number]

/** One metric's judgement in one window (NaN: not judged, e.g. latency without requests). */
export interface MetricJudgement {
  score: number
  expected: number
  low: number
  high: number
}

/** Columns over windows, oldest first; null where a metric was not judged. */
export interface ScoreHistory {
  key: string
  /** window starts, epoch ms */
  t: number[]
  /** the highest score of the window (every metric and the joint detector) */
  score: number[]
  metrics: Record<
    ScoredMetric,
    { score: (number | null)[]; expected: (number | null)[]; low: (number | null)[]; high: (number | null)[] }
  >
}

export interface ScoreQuery {
  key: string
  fromMs: number
  toMs: number
}

/** What the scores API asks; implemented by LiveAnomalies and the embedded worker's client. */
export interface ScoreSource {
  scores(q: ScoreQuery): Promise<ScoreHistory | null>
}

const COLS = 1 + SCORED_METRICS.length * 4

/** A ring of the last `capacity` windows of one series. */
export class ScoreRing {
  readonly #t: Float64Array
  readonly #v: Float32Array
  #next = 0
  #size = 0

  constructor(readonly capacity: number) {
    this.#t = new Float64Array(capacity)
    this.#v = new Float32Array(capacity * COLS)
  }

  get size(): number {
    return this.#size
  }

  push(startMs: number, score: number, metrics: Partial<Record<ScoredMetric, MetricJudgement>>): void {
    const i = this.#next
    this.#t[i] = startMs
    const o = i * COLS
    this.#v[o] = score
    SCORED_METRICS.forEach((m, j) => {
      const x = metrics[m]
      const b = o + 1 + j * 4
      this.#v[b] = x?.score ?? Number.NaN
      this.#v[b + 1] = x?.expected ?? Number.NaN
      this.#v[b + 2] = x?.low ?? Number.NaN
      this.#v[b + 3] = x?.high ?? Number.NaN
    })
    this.#next = (i + 1) % this.capacity
    this.#size = Math.min(this.capacity, this.#size + 1)
  }

  /** The windows starting in [fromMs, toMs), oldest first. */
  read(key: string, fromMs: number, toMs: number): ScoreHistory {
    const out: ScoreHistory = {
      key,
      t: [],
      score: [],
      metrics: Object.fromEntries(
        SCORED_METRICS.map((m) => [m, { score: [], expected: [], low: [], high: [] }]),
      ) as unknown as ScoreHistory['metrics'],
    }
    const num = (x: number) => (Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : null)
    const start = (this.#next - this.#size + this.capacity) % this.capacity
    for (let k = 0; k < this.#size; k++) {
      const i = (start + k) % this.capacity
      const t = this.#t[i]
      if (t < fromMs || t >= toMs) continue
      const o = i * COLS
      out.t.push(t)
      out.score.push(num(this.#v[o]) ?? 0)
      SCORED_METRICS.forEach((m, j) => {
        const b = o + 1 + j * 4
        const col = out.metrics[m]
        col.score.push(num(this.#v[b]))
        col.expected.push(num(this.#v[b + 1]))
        col.low.push(num(this.#v[b + 2]))
        col.high.push(num(this.#v[b + 3]))
      })
    }
    return out
  }
}
