/**
 * @module The Monte Carlo journey simulator: a {@link JourneyModel} compiled into typed arrays and
 * run one journey at a time with a seeded generator, allocating nothing per journey.
 *
 * One journey: the gateway makes attempts (retry policy, per-attempt and total timeouts, full-
 * jitter backoff); an attempt calls the entry site; a site draws its own time from its quantile
 * table, then runs its calls stage by stage (sites of one stage in parallel: the slowest decides;
 * stages one after another), each call site drawing how many calls it makes (fan-out, in
 * parallel or in sequence); a site fails on its own (its own failure chance) or because one of
 * its calls failed (propagation chance). Latency of a site = own time + the stages' latencies.
 */
import { ownFailureChance, ownFailurePosterior, type JourneyModel, type RetryOn } from './model.js'
import { MAX_FANOUT } from './journey-stats.js'
import { beta, type Rng } from './rng.js'

/** What a scenario changes at one site. */
export interface SiteOverride {
  /** the site's own failure chance becomes this (instead of the learned one) */
  errorRatio?: number
  /** its own time is multiplied by this */
  latencyFactor?: number
  /** every call to it fails at once (connection refused) */
  down?: boolean
}

export interface SimulationResult {
  journeys: number
  failures: number
  /** end-to-end latency of each journey, ms (the first `journeys` entries are valid) */
  latencies: Float64Array
  failed: Uint8Array
  /** attempts made and attempts that failed with a status the breaker counts */
  attempts: number
  breakerFailures: number
}

/** A compiled model, ready to run many journeys. */
export class JourneySimulator {
  readonly sites: number
  readonly #parent: Int32Array
  readonly #childStart: Int32Array
  readonly #childCount: Int32Array
  readonly #children: Int32Array
  readonly #stage: Int32Array
  readonly #fanCdf: Float64Array
  readonly #parallel: Uint8Array
  readonly #pOwn: Float64Array
  readonly #prop: Float64Array
  readonly #retryable: Float64Array
  readonly #tab: Float64Array
  readonly #tabN: number
  readonly #scale: Float64Array
  readonly #down: Uint8Array
  readonly #fixedOwn: Float64Array
  readonly #ownA: Float64Array
  readonly #ownB: Float64Array
  readonly #ownOdds: Float64Array
  readonly #overhead: Float64Array
  // gateway policy
  readonly #attempts: number
  readonly #firstByte: number
  readonly #total: number
  readonly #backoffBase: number
  readonly #backoffMax: number
  readonly #on5xx: boolean
  readonly #onTimeout: boolean
  readonly #onConnect: boolean
  readonly #idempotent: number
  /** chance a journey is refused at once by an open breaker (set per scenario) */
  breakerOpen = 0
  #rng: Rng | null = null
  #failed = false

  constructor(model: JourneyModel, overrides: ReadonlyMap<number, SiteOverride> = new Map()) {
    const n = model.sites.length
    if (n === 0) throw new RangeError(`the journey of route ${model.route} has no call sites to simulate`)
    this.sites = n
    this.#parent = new Int32Array(n)
    this.#stage = new Int32Array(n)
    this.#parallel = new Uint8Array(n)
    this.#pOwn = new Float64Array(n)
    this.#prop = new Float64Array(n)
    this.#retryable = new Float64Array(n)
    this.#scale = new Float64Array(n).fill(1)
    this.#down = new Uint8Array(n)
    this.#fixedOwn = new Float64Array(n).fill(-1)
    this.#ownA = new Float64Array(n)
    this.#ownB = new Float64Array(n)
    this.#ownOdds = new Float64Array(n)
    this.#fanCdf = new Float64Array(n * (MAX_FANOUT + 1))
    this.#tabN = model.sites[0].self.length
    this.#tab = new Float64Array(n * this.#tabN)
    const kids: number[][] = Array.from({ length: n }, () => [])
    model.sites.forEach((s, i) => {
      this.#parent[i] = s.parent
      this.#stage[i] = s.stage
      this.#parallel[i] = s.parallel ? 1 : 0
      this.#prop[i] = s.propagate
      this.#retryable[i] = s.retryableShare
      const own = ownFailurePosterior(s)
      this.#ownA[i] = own.a
      this.#ownB[i] = own.b
      this.#ownOdds[i] = own.oddsFactor
      this.#pOwn[i] = ownFailureChance(own.a / (own.a + own.b), own.oddsFactor)
      let c = 0
      for (let k = 0; k <= MAX_FANOUT; k++) {
        c += s.fanout[k]
        this.#fanCdf[i * (MAX_FANOUT + 1) + k] = c
      }
      this.#fanCdf[i * (MAX_FANOUT + 1) + MAX_FANOUT] = Infinity
      for (let q = 0; q < this.#tabN; q++) this.#tab[i * this.#tabN + q] = s.self[q]
      if (s.parent >= 0) kids[s.parent].push(i)
      const o = overrides.get(i)
      if (o !== undefined) {
        if (o.errorRatio !== undefined) this.#fixedOwn[i] = o.errorRatio
        if (o.latencyFactor !== undefined) this.#scale[i] = o.latencyFactor
        if (o.down === true) this.#down[i] = 1
      }
    })
    this.#childStart = new Int32Array(n)
    this.#childCount = new Int32Array(n)
    const flat: number[] = []
    for (let i = 0; i < n; i++) {
      kids[i].sort((a, b) => this.#stage[a] - this.#stage[b])
      this.#childStart[i] = flat.length
      this.#childCount[i] = kids[i].length
      flat.push(...kids[i])
    }
    this.#children = Int32Array.from(flat)
    this.#overhead = Float64Array.from(model.overhead)
    const g = model.gateway
    this.#attempts = g?.attempts ?? 1
    this.#firstByte = g?.firstByteTimeoutMs ?? Infinity
    this.#total = g?.totalTimeoutMs ?? Infinity
    this.#backoffBase = g?.backoffBaseMs ?? 0
    this.#backoffMax = g?.backoffMaxMs ?? 0
    const on = new Set<RetryOn>(g?.retryOn ?? [])
    this.#on5xx = on.has('502') || on.has('503') || on.has('504')
    this.#onTimeout = on.has('timeout')
    this.#onConnect = on.has('connect-error')
    this.#idempotent = g?.idempotentShare ?? 1
    for (let i = 0; i < n; i++) if (this.#fixedOwn[i] >= 0) this.#pOwn[i] = this.#fixedOwn[i]
  }

  /**
   * Sets each site's own failure chance: a draw from its posterior ({@link ownFailurePosterior};
   * parameter uncertainty, one draw per batch), or the chance at the Beta's mean when `rng` is
   * null. Overridden sites keep theirs.
   */
  drawParameters(rng: Rng | null): void {
    for (let i = 0; i < this.sites; i++) {
      if (this.#fixedOwn[i] >= 0) this.#pOwn[i] = this.#fixedOwn[i]
      else
        this.#pOwn[i] = ownFailureChance(
          rng === null
            ? this.#ownA[i] / (this.#ownA[i] + this.#ownB[i])
            : beta(rng, this.#ownA[i], this.#ownB[i]),
          this.#ownOdds[i],
        )
    }
  }

  /** Runs `n` journeys into `out` (its arrays must hold n). */
  run(n: number, rng: Rng, out: SimulationResult): SimulationResult {
    this.#rng = rng
    let failures = 0
    let attemptsMade = 0
    let breakerFailures = 0
    const lat = out.latencies
    const failedOut = out.failed
    const ov = this.#overhead
    const entryDown = this.#down[0] === 1
    for (let j = 0; j < n; j++) {
      const overhead = ov.length > 0 ? sampleTable(ov, 0, ov.length, rng.next()) : 0
      if (this.breakerOpen > 0 && rng.next() < this.breakerOpen) {
        lat[j] = overhead
        failedOut[j] = 1
        failures++
        continue
      }
      const idempotent = this.#idempotent >= 1 || rng.next() < this.#idempotent
      let elapsed = 0
      let failed = false
      for (let a = 1; a <= this.#attempts; a++) {
        attemptsMade++
        const budget = Math.min(this.#firstByte, this.#total - elapsed)
        let l = this.#site(0)
        failed = this.#failed
        let timedOut = false
        if (l > budget) {
          l = budget
          failed = true
          timedOut = true
        }
        elapsed += l
        if (!failed) break
        // 0 connect error, 1 retryable status, 2 timeout, 3 other
        const kind = timedOut ? 2 : entryDown ? 0 : rng.next() < this.#retryable[0] ? 1 : 3
        if (kind !== 3) breakerFailures++
        if (a === this.#attempts) break
        const retry =
          (kind === 0 && this.#onConnect) ||
          (idempotent && ((kind === 1 && this.#on5xx) || (kind === 2 && this.#onTimeout)))
        if (!retry) break
        const cap = Math.min(this.#backoffMax, this.#backoffBase * 2 ** (a - 1))
        const backoff = rng.next() * cap
        if (elapsed + backoff >= this.#total) break
        elapsed += backoff
      }
      lat[j] = elapsed + overhead
      failedOut[j] = failed ? 1 : 0
      if (failed) failures++
    }
    out.journeys = n
    out.failures = failures
    out.attempts = attemptsMade
    out.breakerFailures = breakerFailures
    return out
  }

  /** Latency of one call of site `i`; sets #failed. */
  #site(i: number): number {
    const rng = this.#rng as Rng
    if (this.#down[i] === 1) {
      this.#failed = true
      return 0
    }
    let total = sampleTable(this.#tab, i * this.#tabN, this.#tabN, rng.next()) * this.#scale[i]
    let childFailed = false
    const cs = this.#childStart[i]
    const ce = cs + this.#childCount[i]
    let stage = -1
    let stageMax = 0
    for (let x = cs; x < ce; x++) {
      const c = this.#children[x]
      if (this.#stage[c] !== stage) {
        total += stageMax
        stageMax = 0
        stage = this.#stage[c]
      }
      // fan-out: how many calls this time
      const u = rng.next()
      const base = c * (MAX_FANOUT + 1)
      let k = 0
      while (u >= this.#fanCdf[base + k]) k++
      if (k === 0) continue
      let l = 0
      const par = this.#parallel[c] === 1
      for (let m = 0; m < k; m++) {
        const cl = this.#site(c)
        if (this.#failed) childFailed = true
        l = par ? (cl > l ? cl : l) : l + cl
      }
      if (l > stageMax) stageMax = l
    }
    total += stageMax
    this.#failed = rng.next() < this.#pOwn[i] || (childFailed && rng.next() < this.#prop[i])
    return total
  }
}

/** Linear interpolation in a quantile table at level u ∈ [0, 1). */
function sampleTable(tab: Float64Array, off: number, n: number, u: number): number {
  const x = u * (n - 1)
  const i = x | 0
  const lo = tab[off + i]
  return i + 1 < n ? lo + (x - i) * (tab[off + i + 1] - lo) : lo
}

/** Buffers for `run` (allocate once, reuse for every batch). */
export function simulationBuffers(n: number): SimulationResult {
  return {
    journeys: 0,
    failures: 0,
    latencies: new Float64Array(n),
    failed: new Uint8Array(n),
    attempts: 0,
    breakerFailures: 0,
  }
}
