/**
 * @module Capacity per replica learned from the service's own latency–load curve (pure, no I/O).
 * Each telemetry window in which the pool did not change gives one point: the load one ready
 * replica carried (served req/s ÷ ready replicas), the window's latency quantile and its error
 * ratio. The knee is the highest per-replica load at which latency stays within the objective and
 * errors do not rise.
 *
 * ```
 * windows ─▶ bins of per-replica load (×1.1 wide, newest 64 each, a day of memory)
 *         ─▶ per bin: median latency, median error ratio
 *         ─▶ monotone (isotonic) fit in load: latency and errors only rise with load
 *         ─▶ first bin over the objective ─▶ knee, interpolated from the last bin within it
 *            none over it                  ─▶ max(initial, highest good load ÷ target utilisation)
 *         ─▶ clamp(min, max)
 * ```
 *
 * Why not the live detector bank's latency model (`Ensemble.observeLoad`, src/detect): it fits how much
 * latency rises per unit of load *above its usual band*, relative to the usual latency. That
 * answers "is this latency explained by unusual traffic" and knows nothing of replicas; capacity
 * needs the absolute load per replica where latency turns, so the curve is kept per replica here.
 *
 * Nothing beyond the loads seen is known: without saturation in the evidence, the estimate never
 * goes below the configured initial capacity and rises above the highest load served within the
 * objective only by 1 ÷ target utilisation, so the policy's operating point is a load already seen
 * to be fine; it moves further only as higher loads are seen to be fine.
 */

/** One telemetry window of a service, as the autoscaler measured it. */
export interface CapacityWindow {
  readonly atMs: number
  /** requests per second one ready replica carried in the window (served ÷ ready replicas) */
  readonly perReplica: number
  /** the window's latency quantile (p95 or p99) in ms */
  readonly latencyMs: number
  /** 5xx responses ÷ requests in the window */
  readonly errorRatio: number
  /** requests in the window: a quantile of fewer than a handful is noise */
  readonly requests: number
}

export interface CapacityLearningOptions {
  /** req/s per replica used until there is enough evidence, and the floor while no saturation was seen */
  readonly initial: number
  /** bounds of the estimate (req/s per replica) */
  readonly min: number
  readonly max: number
  /** the latency objective in ms; default `latencyMultiple` × the latency at low load */
  readonly latencyTargetMs?: number
  /** the objective as a multiple of the low-load latency, when no `latencyTargetMs` (default 2) */
  readonly latencyMultiple?: number
  /** windows needed before the estimate leaves `initial` (default 60) */
  readonly minWindows?: number
  /** the policy's target utilisation: how far past the highest good load an unsaturated estimate may reach */
  readonly targetUtilization: number
  /** evidence older than this is forgotten (default 1 day) */
  readonly memoryMs?: number
}

/** Where the estimate came from. */
export type CapacitySource =
  /** fewer than `minWindows` windows: the configured initial capacity */
  | 'initial'
  /** latency or errors rose within the loads seen: the knee */
  | 'knee'
  /** no saturation seen: the initial capacity, or above it what the loads seen to be fine allow */
  | 'unsaturated'
  /** the latency objective was missed even at the lowest load seen (absolute objective only) */
  | 'missed'

/** The capacity a scaling decision used, as its evidence carries it. */
export interface CapacityEvidence {
  /** req/s per replica this decision sized with */
  readonly perReplica: number
  /** `configured`: a fixed number in the config; otherwise where the learned value came from */
  readonly source: 'configured' | CapacitySource
  readonly learned: boolean
  /** windows of evidence held (null: not learning) */
  readonly windows: number | null
  /** the newest estimate; differs from perReplica while within 5 % of it (null: not learning) */
  readonly estimate: number | null
  readonly baselineMs: number | null
  readonly targetMs: number | null
  readonly highestGood: number | null
  readonly lowestBad: number | null
  readonly bounded: 'min' | 'max' | null
}

export interface CapacityEstimate {
  /** req/s per replica at full utilisation, within min..max */
  readonly perReplica: number
  readonly source: CapacitySource
  /** true when the value comes from the evidence rather than the configured initial capacity */
  readonly learned: boolean
  /** windows of evidence held */
  readonly windows: number
  /** the latency quantile at low load (ms), null before enough evidence */
  readonly baselineMs: number | null
  /** the objective judged against (ms) */
  readonly targetMs: number | null
  /** the highest per-replica load whose latency and errors stayed within the objective */
  readonly highestGood: number | null
  /** the lowest per-replica load whose latency or errors did not */
  readonly lowestBad: number | null
  /** the bound that clipped the estimate */
  readonly bounded: 'min' | 'max' | null
}

/** Bins are this ratio wide in per-replica load: 10 % resolves a knee finely enough for sizing. */
const BIN_RATIO = 1.1
const LOG_BIN = Math.log(BIN_RATIO)
/** windows kept per bin (newest): a bin the service sits in does not crowd out the others */
const PER_BIN = 64
/** requests a window needs for its latency quantile to count */
const MIN_REQUESTS = 5
/** windows a bin needs before its median counts */
const MIN_PER_BIN = 3
/** the low-load baseline: the lowest-load windows, at least this share of all and this many */
const BASE_SHARE = 0.2
const BASE_MIN = 8
/** errors "rise" when a bin's median error ratio is this much above the low-load one */
const ERROR_RISE = 0.02
/**
 * With an objective relative to the low-load latency, a load is only known to be fine when it is
 * this many times the baseline's load: closer, the baseline was measured at the same load
 */
const MIN_SPAN = 2
const DEFAULTS = { latencyMultiple: 2, minWindows: 60, memoryMs: 86_400_000 }

/** Checks options; returns the first problem as `field: message`, or null. */
export function capacityOptionsProblem(o: CapacityLearningOptions): string | null {
  for (const k of ['initial', 'min', 'max'] as const)
    if (!(o[k] > 0) || !Number.isFinite(o[k])) return `${k}: expected requests per second > 0, got ${o[k]}`
  if (o.min > o.initial) return `min: ${o.min} is above initial ${o.initial}; lower min or raise initial`
  if (o.max < o.initial) return `max: ${o.max} is below initial ${o.initial}; raise max or lower initial`
  if (o.latencyTargetMs !== undefined && !(o.latencyTargetMs > 0))
    return `latencyTargetMs: expected ms > 0, got ${o.latencyTargetMs}`
  if (o.latencyMultiple !== undefined && !(o.latencyMultiple > 1))
    return `latencyMultiple: expected a multiple > 1 of the low-load latency, got ${o.latencyMultiple}`
  if (o.minWindows !== undefined && !(Number.isInteger(o.minWindows) && o.minWindows >= MIN_PER_BIN * 2))
    return `minWindows: expected a whole number ≥ ${MIN_PER_BIN * 2}, got ${o.minWindows}`
  if (!(o.targetUtilization > 0 && o.targetUtilization <= 1))
    return `targetUtilization: expected a fraction in (0, 1], got ${o.targetUtilization}`
  return null
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const h = (s.length - 1) / 2
  return (s[Math.floor(h)] + s[Math.ceil(h)]) / 2
}

/** Weighted isotonic (non-decreasing) regression by pool-adjacent-violators. */
export function isotonic(values: readonly number[], weights: readonly number[]): number[] {
  const blocks: { v: number; w: number; n: number }[] = []
  for (let i = 0; i < values.length; i++) {
    blocks.push({ v: values[i], w: weights[i], n: 1 })
    while (blocks.length > 1 && blocks[blocks.length - 2].v > blocks[blocks.length - 1].v) {
      const b = blocks.pop()!
      const a = blocks[blocks.length - 1]
      a.v = (a.v * a.w + b.v * b.w) / (a.w + b.w)
      a.w += b.w
      a.n += b.n
    }
  }
  return blocks.flatMap((b) => Array<number>(b.n).fill(b.v))
}

interface Bin {
  load: number
  latency: number
  errors: number
  n: number
}

/**
 * Learns one service's capacity per replica: {@link observe} each window, {@link estimate} when
 * deciding. Strictly online; memory is bounded by the number of load bins seen.
 */
export class CapacityEstimator {
  readonly #o: CapacityLearningOptions
  /** per bin index (⌊ln load / ln 1.1⌋): its newest windows, oldest first */
  readonly #bins = new Map<number, CapacityWindow[]>()
  #newestMs = -Infinity

  constructor(options: CapacityLearningOptions) {
    const problem = capacityOptionsProblem(options)
    if (problem !== null) throw new RangeError(`capacity learning: ${problem}`)
    this.#o = options
  }

  /** Adds one window; windows without load, with too few requests or no latency are ignored. */
  observe(w: CapacityWindow): void {
    if (!(w.requests >= MIN_REQUESTS)) return
    if (!(w.perReplica > 0) || !Number.isFinite(w.perReplica)) return
    if (!(w.latencyMs >= 0) || !Number.isFinite(w.latencyMs)) return
    const errorRatio = Number.isFinite(w.errorRatio) ? Math.min(1, Math.max(0, w.errorRatio)) : 0
    const i = Math.floor(Math.log(w.perReplica) / LOG_BIN)
    let bin = this.#bins.get(i)
    if (bin === undefined) this.#bins.set(i, (bin = []))
    bin.push({ ...w, errorRatio })
    if (bin.length > PER_BIN) bin.shift()
    this.#newestMs = Math.max(this.#newestMs, w.atMs)
  }

  /** how long evidence is kept, relative to the newest window */
  get memoryMs(): number {
    return this.#o.memoryMs ?? DEFAULTS.memoryMs
  }

  get minWindows(): number {
    return this.#o.minWindows ?? DEFAULTS.minWindows
  }

  get windows(): number {
    let n = 0
    for (const b of this.#bins.values()) n += b.length
    return n
  }

  /** The windows held, oldest first: fed back through {@link observe}, they give the same estimate. */
  held(): CapacityWindow[] {
    this.#forget()
    return [...this.#bins.values()].flat().sort((a, b) => a.atMs - b.atMs)
  }

  estimate(): CapacityEstimate {
    const o = this.#o
    this.#forget()
    const windows = this.windows
    const fallback = (source: CapacitySource, extra: Partial<CapacityEstimate> = {}): CapacityEstimate => ({
      perReplica: o.initial,
      source,
      learned: false,
      windows,
      baselineMs: null,
      targetMs: null,
      highestGood: null,
      lowestBad: null,
      bounded: null,
      ...extra,
    })
    if (windows < (o.minWindows ?? DEFAULTS.minWindows)) return fallback('initial')

    const keys = [...this.#bins.keys()].sort((a, b) => a - b)
    // the low-load baseline: the lowest-load windows, whatever their bins hold
    const want = Math.max(BASE_MIN, Math.ceil(BASE_SHARE * windows))
    const base: CapacityWindow[] = []
    for (const k of keys) {
      if (base.length >= want) break
      base.push(...this.#bins.get(k)!)
    }
    const baselineMs = median(base.map((w) => w.latencyMs))
    const baseLoad = median(base.map((w) => w.perReplica))
    const baseErrors = median(base.map((w) => w.errorRatio))
    const targetMs = o.latencyTargetMs ?? (o.latencyMultiple ?? DEFAULTS.latencyMultiple) * baselineMs
    const errorLimit = baseErrors + ERROR_RISE

    const bins: Bin[] = []
    for (const k of keys) {
      const ws = this.#bins.get(k)!
      if (ws.length < MIN_PER_BIN) continue
      bins.push({
        load: median(ws.map((w) => w.perReplica)),
        latency: median(ws.map((w) => w.latencyMs)),
        errors: median(ws.map((w) => w.errorRatio)),
        n: ws.length,
      })
    }
    const weights = bins.map((b) => b.n)
    const lat = isotonic(
      bins.map((b) => b.latency),
      weights,
    )
    const err = isotonic(
      bins.map((b) => b.errors),
      weights,
    )
    // both fits are non-decreasing, so the bins within the objective are a prefix
    let good = 0
    while (good < bins.length && lat[good] <= targetMs && err[good] <= errorLimit) good++
    const known = { windows, baselineMs, targetMs }

    if (good === 0) {
      if (bins.length === 0) return fallback('initial', known)
      return this.#bounded(bins[0].load, 'missed', { ...known, lowestBad: bins[0].load })
    }
    const g = bins[good - 1]
    if (good === bins.length) {
      // saturation not seen: only as far as the loads seen to be fine, and never below the initial
      const spanned = o.latencyTargetMs !== undefined || g.load >= MIN_SPAN * baseLoad
      const reach = spanned ? g.load / o.targetUtilization : 0
      if (reach <= o.initial) return fallback('unsaturated', { ...known, highestGood: g.load })
      return this.#bounded(reach, 'unsaturated', { ...known, highestGood: g.load })
    }
    const b = bins[good]
    // where the fits cross their limits between the last good and the first bad bin
    const frac = (lo: number, hi: number, limit: number) => (hi > lo ? (limit - lo) / (hi - lo) : 0)
    let f = 1
    if (lat[good] > targetMs)
      f = Math.min(f, frac(Math.log(lat[good - 1]), Math.log(lat[good]), Math.log(targetMs)))
    if (err[good] > errorLimit) f = Math.min(f, frac(err[good - 1], err[good], errorLimit))
    const knee = g.load + Math.min(1, Math.max(0, f)) * (b.load - g.load)
    return this.#bounded(knee, 'knee', { ...known, highestGood: g.load, lowestBad: b.load })
  }

  #bounded(value: number, source: CapacitySource, known: Partial<CapacityEstimate>): CapacityEstimate {
    const o = this.#o
    const bounded = value < o.min ? 'min' : value > o.max ? 'max' : null
    return {
      perReplica: Math.min(o.max, Math.max(o.min, value)),
      source,
      learned: true,
      windows: this.windows,
      baselineMs: null,
      targetMs: null,
      highestGood: null,
      lowestBad: null,
      ...known,
      bounded,
    }
  }

  /** Drops windows older than the memory, relative to the newest window seen. */
  #forget(): void {
    const cutoff = this.#newestMs - this.memoryMs
    for (const [k, ws] of this.#bins) {
      let drop = 0
      while (drop < ws.length && ws[drop].atMs < cutoff) drop++
      if (drop === ws.length) this.#bins.delete(k)
      else if (drop > 0) ws.splice(0, drop)
    }
  }
}
