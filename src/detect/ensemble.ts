/** @module The default detector: calibrated members merged by the geometric mean p-value, with alarms and explanations. */
import { Alarm, type AlarmOptions, type AlarmTransition } from './alarm.js'
import { Cusum } from './cusum.js'
import { VGL_ERR_DETECT_SNAPSHOT } from '../errors.js'
import {
  MAX_SURPRISE,
  checkFinite,
  type Detector,
  type DetectorSnapshot,
  type SurpriseDetector,
} from './detector.js'
import { HalfSpaceTreesDetector, IsolationForestDetector } from './embedded.js'
import { AnomalyLikelihood, type LikelihoodOptions } from './likelihood.js'
import { PoissonTail } from './poisson-tail.js'
import { RobustZ } from './robust-z.js'
import { nextRandom } from './stats.js'
import { RollingQuantile } from './rolling-quantile.js'

/** Names of the univariate member detectors. */
export type MemberName = 'robust-z' | 'rolling-quantile' | 'poisson' | 'hst' | 'iforest' | 'cusum'

export const MEMBER_NAMES: readonly MemberName[] = [
  'robust-z',
  'rolling-quantile',
  'poisson',
  'hst',
  'iforest',
  'cusum',
]

/**
 * The default members for a univariate series. Poisson votes while every value so far is
 * non-negative (a quasi-Poisson: counts, and also rates and latencies, with the dispersion learned);
 * once a value is negative it abstains. Half-Space Trees and Isolation Forest are left out: on a
 * univariate shingle they are the weakest members (bench/RESULTS.md) and cost four fifths of the
 * time; they serve multivariate points (SeriesEnsemble) and per-client features. CUSUM is left out
 * because the geometric mean averages evidence: a member that answers a narrower question (a
 * sustained 1σ shift; its spike limit repeats robust-z's) dilutes the others' evidence on every
 * other kind of anomaly (docs/detection.md). All remain available by name.
 */
export const DEFAULT_MEMBERS: readonly MemberName[] = ['robust-z', 'rolling-quantile', 'poisson']

/**
 * How the members' calibrated p-values are merged: `geometric` (default) e·Π pᵢ^wᵢ with equal
 * weight per evidence family ({@link Ensemble}), or `harmonic`, the harmonic mean p-value
 * M / Σ 1/pᵢ.
 */
export type CombineRule = 'geometric' | 'harmonic'

export interface EnsembleOptions {
  readonly members?: readonly MemberName[]
  /** merging rule for the members' p-values; default `geometric` */
  readonly combine?: CombineRule
  readonly seed?: number
  /** a label for explanations, e.g. `p95` or `rate` */
  readonly metric?: string
  readonly likelihood?: LikelihoodOptions
  readonly alarm?: AlarmOptions
  /** robust-z history (points); smaller saves memory for many live series; default 4096 */
  readonly historySize?: number
  /** sampling interval in ms, when known: lets the season snap to one day or one week */
  readonly stepMs?: number
}

/** What an anomaly is about: the metric, what was seen and expected, and which detector spoke loudest. */
export interface Explanation {
  readonly metric: string
  readonly observed: number
  readonly expected: number
  readonly low: number
  readonly high: number
  readonly score: number
  /** member with the strongest calibrated evidence */
  readonly detector: string
  /** calibrated −log10 p per member */
  readonly evidence: Readonly<Record<string, number>>
}

export interface EnsembleStep {
  readonly score: number
  readonly alarm: AlarmTransition
}

/** Scores at p = 1e-10 map to 1, as in Numenta's log-likelihood; the scale is −log10(p)/10. */
const LOG10_P_AT_ONE = 10
/** Tail audit: calibrated p-values below this are counted against their nominal rate. */
const AUDIT_P = 1e-3
const AUDIT_LN = -Math.log(AUDIT_P)
/** Forgetting horizon (points) of the tail audit. */
const AUDIT_HORIZON = 2000
/** Prior pseudo-count of expected exceedances, so one early exceedance does not halve a member. */
const AUDIT_PRIOR = 1
/** Forgetting horizon (points) of the latency–load regression. */
const LOAD_HORIZON = 1000
/** Weighted points with excess load before the latency–load slope is used. */
const LOAD_MIN_POINTS = 5

/** Forgetting least-squares sums of ln(x / expected) on the excess load h = max(0, load deviation). */
interface LoadFit {
  /** the load deviation that goes with the next point (NaN: none) */
  dev: number
  sw: number
  sh: number
  sr: number
  shh: number
  shr: number
  /** weighted count of points with h > 0 */
  nh: number
}

export function createMember(
  name: MemberName,
  seed: number,
  historySize = 4096,
  stepMs = 0,
): SurpriseDetector {
  switch (name) {
    case 'robust-z':
      return new RobustZ({ historySize, stepMs })
    case 'rolling-quantile':
      return new RollingQuantile()
    case 'poisson':
      return new PoissonTail({ side: 'both' })
    case 'hst':
      return new HalfSpaceTreesDetector({ seed })
    case 'iforest':
      return new IsolationForestDetector({ seed })
    case 'cusum':
      return new Cusum()
  }
}

/**
 * Runs every member on the series (robust-z on the raw values, the others on the deseasonalised
 * values robust-z provides, so none of them mistakes the daily peak for an anomaly), calibrates
 * each member's surprise against its own history ({@link AnomalyLikelihood}), and merges the
 * calibrated p-values with a weighted geometric mean times e (Vovk & Wang 2020, "Combining
 * p-values via averaging", Biometrika): p = e · exp(−Σ wᵢ·(−ln pᵢ)), Σ wᵢ = 1.
 *
 * Why this rule (docs/detection.md): members see the same series, so their evidence is strongly
 * dependent, and the merged p-value must be valid under any dependence: e·Π pᵢ^wᵢ is, for any
 * fixed weights (a weighted mean of dependent Exp(1) surprises is below one Exp(1) in convex
 * order, so P(mean ≥ t) ≤ e^(1−t)), at the level of a single member. A merging function that one
 * confident member can carry on its own (the harmonic mean, Bonferroni) raises the union of the
 * members' alarms, so the ensemble inherits every member's false alarms; the geometric mean needs
 * the members to agree. The weights are equal per **evidence family**: the generic members
 * (robust-z, rolling-quantile, and CUSUM, HST, Isolation Forest when asked) all judge the same
 * deseasonalised residual with different tail models, Poisson judges the count under its own
 * likelihood; two views of one residual should not outvote a second model, so each family gets
 * half the weight, shared equally inside it. The score is −log10(p)/10 clipped to [0,1].
 */
export class Ensemble implements Detector<number> {
  readonly name: string
  readonly o: {
    members: readonly MemberName[]
    combine: CombineRule
    seed: number
    metric: string
    historySize: number
    stepMs: number
  }
  #members: SurpriseDetector[]
  #cal: AnomalyLikelihood[]
  #rz: RobustZ
  #rzVotes: boolean
  #alarm: Alarm
  #last: number[]
  /** raw surprises computed by score(x), reused by update(x) for the same x */
  #raw: Float64Array
  #rawFor = NaN
  /** the score of the point in #rawFor */
  #scored = 0
  #ys: Float64Array
  #n = 0
  /** false once a value is not a non-negative integer: the generic members then see x unjittered */
  #counts = true
  /** false once a value is negative: the Poisson member then abstains */
  #nonneg = true
  #rng = { rng: 0 }
  #jit = 0
  #jitFor = NaN
  /** x as the generic members see it (jittered for counts) */
  #xs = 0
  #poissonAt = -1
  /** per member: exponentially weighted count of calibrated p < AUDIT_P; and the weighted point count */
  #ex: Float64Array
  /** uncorrected calibrated surprises of the last scored point (fed to the audit by update) */
  #cal0: Float64Array
  #exN = 0
  #load: LoadFit = { dev: NaN, sw: 0, sh: 0, sr: 0, shh: 0, shr: 0, nh: 0 }

  constructor(options: EnsembleOptions = {}) {
    const members = options.members ?? DEFAULT_MEMBERS
    this.o = {
      members: [...members],
      combine: options.combine ?? 'geometric',
      seed: options.seed ?? 42,
      metric: options.metric ?? 'value',
      historySize: options.historySize ?? 4096,
      stepMs: options.stepMs ?? 0,
    }
    this.name = members.length === 1 ? members[0] : 'ensemble'
    this.#members = members.map((m, i) => createMember(m, this.o.seed + i, this.o.historySize, this.o.stepMs))
    this.#cal = members.map(() => new AnomalyLikelihood(options.likelihood))
    // the seasonal decomposition is shared preprocessing: without a robust-z member a private one
    // (which never votes) still removes the season, so single members are judged on equal terms
    this.#rz =
      (this.#members.find((m) => m instanceof RobustZ) as RobustZ | undefined) ??
      new RobustZ({ historySize: this.o.historySize, stepMs: this.o.stepMs })
    this.#rzVotes = members.includes('robust-z')
    this.#alarm = new Alarm(options.alarm)
    this.#last = members.map(() => 0)
    this.#poissonAt = members.indexOf('poisson')
    this.#rng.rng = (this.o.seed * 7919) | 0
    this.#raw = new Float64Array(members.length)
    this.#ys = new Float64Array(members.length)
    this.#ex = new Float64Array(members.length)
    this.#cal0 = new Float64Array(members.length)
  }

  /**
   * −ln of the tail correction of member i: observed / nominal rate of calibrated p < 1e-3 over
   * the recent past (never below 1). The calibrated p-values are uniform inside the history by
   * construction; beyond it they rest on an exponential tail, and a member whose extremes come
   * more often than that tail predicts (it is miscalibrated on this series: regime changes it
   * cannot model, a tail heavier than exponential) has its p-values multiplied by the ratio.
   */
  #penalty(i: number): number {
    const ratio = (this.#ex[i] + AUDIT_PRIOR) / (this.#exN * AUDIT_P + AUDIT_PRIOR)
    return ratio > 1 ? Math.log(ratio) : 0
  }

  /**
   * Sets the load that goes with the next point: how far the load is above its normal band, on a
   * log scale (ln(requests / upper edge of the expected requests), 0 inside the band), e.g. from
   * the rate ensemble of the same series. For a latency series the ensemble then learns how latency
   * rises with excess load (ln(latency / expected) = a + b·excess, b ≥ 0, forgetting least squares
   * over ~1000 points) and judges each point at the expected load, so every member's threshold
   * rises with unusual traffic: a surge that slows the API as surges have before is not a latency
   * anomaly (the surge itself is the rate's anomaly), a slowdown without more traffic is. Only
   * excess load counts: latency does not fall below its baseline when traffic drops (a traffic
   * collapse must not make normal latency look like a spike), and load inside its band carries the
   * rate model's own noise and misfit, which would blur the slope towards 0. NaN clears it.
   */
  observeLoad(deviation: number): void {
    this.#load.dev = Number.isFinite(deviation) ? deviation : NaN
  }

  /** The learned latency–load elasticity b ≥ 0 (0 until enough points with excess load). */
  get loadSlope(): number {
    const f = this.#load
    if (f.nh < LOAD_MIN_POINTS || f.sw <= 0) return 0
    const mh = f.sh / f.sw
    const vh = f.shh / f.sw - mh * mh
    if (!(vh > 1e-9)) return 0
    return Math.max(0, (f.shr / f.sw - mh * (f.sr / f.sw)) / vh)
  }

  /** The multiplicative load effect on the next point: exp(b·max(0, deviation)). */
  #loadFactor(): number {
    const d = this.#load.dev
    if (!(d > 0)) return 1
    const b = this.loadSlope
    return b > 0 ? Math.exp(Math.min(MAX_SURPRISE, b * d)) : 1
  }

  /**
   * x as the members judge it: divided by the factor the learned latency–load slope predicts for
   * the excess load given to {@link observeLoad} (positive values only; x itself without excess load).
   */
  atLoad(x: number): number {
    return this.#atLoad(x)
  }

  #atLoad(x: number): number {
    return x > 0 && this.#load.dev > 0 ? x / this.#loadFactor() : x
  }

  /** Learns the (excess load, ln(x / expected)) pair of the point being updated. */
  #learnLoad(x: number): void {
    const f = this.#load
    if (Number.isNaN(f.dev) || !(x > 0) || !this.#rz.ready) return
    const e = this.#rz.expectedValue()
    if (!(e > 0)) return
    const h = Math.max(0, f.dev)
    const r = Math.log(x / e)
    const decay = 1 - 1 / LOAD_HORIZON
    f.sw = f.sw * decay + 1
    f.sh = f.sh * decay + h
    f.sr = f.sr * decay + r
    f.shh = f.shh * decay + h * h
    f.shr = f.shr * decay + h * r
    f.nh = f.nh * decay + (h > 0 ? 1 : 0)
  }

  get alarmActive(): boolean {
    return this.#alarm.active
  }

  /**
   * Counts are discrete: quantiles and MADs of small integers tie, and rank-based tails miscalibrate.
   * As randomised quantile residuals do (Dunn & Smyth 1996), the generic members see x + U(−½, ½)
   * from a seeded generator (the same draw for score and update of one point); Poisson sees x.
   */
  #jittered(x: number, counts: boolean): number {
    if (!counts) return x
    if (this.#jitFor !== x) {
      this.#jit = nextRandom(this.#rng) - 0.5
      this.#jitFor = x
    }
    return x + this.#jit
  }

  #inputs(x: number, i: number, des: number): number {
    const m = this.#members[i]
    if (m === this.#rz) return this.#xs
    if (m instanceof PoissonTail) {
      // counts keep their units; the seasonal baseline becomes the expected count
      m.observeMean(this.#rz.expectedValue(x))
      return x
    }
    return des
  }

  score(x: number): number {
    checkFinite(this.name, x)
    x = this.#atLoad(x)
    // until robust-z has chosen its transform the deseasonalised scale is not final: members wait
    if (!this.#rz.ready) return 0
    const M = this.#members.length
    const counts = this.#counts && x >= 0 && Number.isInteger(x)
    const nonneg = this.#nonneg && x >= 0
    let max = 0
    // per evidence family (class comment): sum of calibrated surprises and number of voters
    let sumRes = 0
    let nRes = 0
    let sumLik = 0
    let nLik = 0
    let voters = 0
    this.#xs = this.#jittered(x, counts)
    const des = this.#rz.deseasonalize(this.#xs)
    for (let i = 0; i < M; i++) {
      if (i === this.#poissonAt && !nonneg && M > 1) {
        // negative values: Poisson abstains (and costs nothing)
        this.#raw[i] = 0
        this.#last[i] = NaN
        continue
      }
      const raw = Math.min(MAX_SURPRISE, this.#members[i].surprise(this.#inputs(x, i, des)))
      this.#raw[i] = raw
      const c0 = this.#cal[i].calibrate(raw)
      this.#cal0[i] = c0
      // a p-value stays in [e^−MAX_SURPRISE, 1]: the audit's correction cannot push it above 1 (a
      // negative surprise would cancel other members' evidence in the mean), and beyond
      // MAX_SURPRISE a tail probability says nothing more, so no member carries the merge alone on
      // an extrapolated 1e-50
      const c = Math.max(0, Math.min(MAX_SURPRISE, c0 - this.#penalty(i)))
      this.#last[i] = c
      if (Number.isNaN(c)) continue
      voters++
      if (i === this.#poissonAt) {
        sumLik += c
        nLik++
      } else {
        sumRes += c
        nRes++
      }
      if (c > max) max = c
    }
    let lnInvP: number
    if (voters <= 1) lnInvP = max
    else if (this.o.combine === 'geometric') {
      // each family's mean surprise, then the mean over the families present
      const fams = (nRes > 0 ? 1 : 0) + (nLik > 0 ? 1 : 0)
      lnInvP = ((nRes > 0 ? sumRes / nRes : 0) + (nLik > 0 ? sumLik / nLik : 0)) / fams - 1
    } else {
      // log of Σ exp(cᵢ), shifted by the max for stability; ln p = ln M − that
      let sum = 0
      for (let i = 0; i < M; i++) if (!Number.isNaN(this.#last[i])) sum += Math.exp(this.#last[i] - max)
      lnInvP = max + Math.log(sum) - Math.log(voters)
    }
    const ramp = Math.min(1, this.#cal[0].seen / (2 * this.#cal[0].o.minHistory))
    const score = Math.min(1, (Math.max(0, lnInvP) / Math.LN10 / LOG10_P_AT_ONE) * ramp)
    this.#rawFor = x
    this.#scored = score
    return score
  }

  update(x: number): void {
    checkFinite(this.name, x)
    const observed = x
    x = this.#atLoad(x)
    // a point learned without being scored first is scored now: its score decides below whether
    // the calibrations learn it
    if (this.#rz.ready && this.#rawFor !== x) this.score(observed)
    const flagged = this.#scored >= this.#alarm.o.raiseAt
    // the slope is learned after the point is judged and adjusted with the old one
    this.#learnLoad(observed)
    this.#load.dev = NaN
    if (!this.#rz.ready) {
      this.#rz.update(x)
      this.#rawFor = NaN
      this.#n++
      return
    }
    const M = this.#members.length
    const cached = this.#rawFor === x
    this.#rawFor = NaN
    this.#xs = this.#jittered(x, this.#counts && x >= 0 && Number.isInteger(x))
    this.#jitFor = NaN
    // inputs first: updating robust-z moves the seasonal offset the others see
    const ys = this.#ys
    const des = this.#rz.deseasonalize(this.#xs)
    for (let i = 0; i < M; i++) ys[i] = this.#inputs(x, i, des)
    const decay = 1 - 1 / AUDIT_HORIZON
    this.#exN = this.#exN * decay + 1
    for (let i = 0; i < M; i++) {
      const m = this.#members[i]
      const raw = cached ? this.#raw[i] : Math.min(MAX_SURPRISE, m.surprise(ys[i]))
      const c0 = cached ? this.#cal0[i] : this.#cal[i].calibrate(raw)
      this.#ex[i] = this.#ex[i] * decay + (c0 > AUDIT_LN ? 1 : 0)
      // as in SPOT (Siffer et al. 2017), a point judged anomalous does not enter the calibration:
      // one extreme surprise would widen the exponential tail for the next ~1000 points and damp
      // the evidence of a second anomaly (members still learn it, so a level shift is absorbed)
      if (!flagged) this.#cal[i].learn(raw)
      m.update(ys[i])
    }
    if (!this.#rzVotes) this.#rz.update(this.#xs)
    if (!(x >= 0 && Number.isInteger(x))) this.#counts = false
    if (!(x >= 0)) this.#nonneg = false
    this.#n++
  }

  /**
   * Scores, learns and steps the alarm in one call. A non-finite x (a gap) scores 0 and is not
   * learned, so a missing point neither raises nor clears anything.
   */
  process(x: number): EnsembleStep {
    if (!Number.isFinite(x)) return { score: 0, alarm: null }
    const score = this.score(x)
    this.update(x)
    return { score, alarm: this.#alarm.step(score) }
  }

  /** Explains the last scored point. */
  explain(observed: number, score: number): Explanation {
    const e = this.#rz.expected()
    // at the point's load: the band rises with excess traffic as the judgement did
    const k = this.#loadFactor()
    const exp = k === 1 ? e : { value: e.value * k, low: e.low * k, high: e.high * k }
    const evidence: Record<string, number> = {}
    let best = 0
    for (let i = 0; i < this.#members.length; i++) {
      evidence[this.#members[i].name] = this.#last[i] / Math.LN10
      if (this.#last[i] > this.#last[best] || Number.isNaN(this.#last[best])) best = i
    }
    return {
      metric: this.o.metric,
      observed,
      expected: exp.value,
      low: exp.low,
      high: exp.high,
      score,
      detector: this.#members[best].name,
      evidence,
    }
  }

  snapshot(): DetectorSnapshot {
    return {
      kind: 'ensemble',
      version: 1,
      options: { ...this.o, members: [...this.o.members] },
      state: {
        n: this.#n,
        members: this.#members.map((m) => m.snapshot()),
        cal: this.#cal.map((c) => structuredClone(c.s)),
        alarm: structuredClone(this.#alarm.s),
        last: [...this.#last],
        counts: this.#counts,
        nonneg: this.#nonneg,
        rng: this.#rng.rng,
        ex: Array.from(this.#ex),
        exN: this.#exN,
        load: { ...this.#load },
      },
    }
  }

  /** Restores a snapshot taken from an ensemble with the same members. */
  restore(snap: DetectorSnapshot): this {
    const st = snap.state as {
      n: number
      members: DetectorSnapshot[]
      cal: AnomalyLikelihood['s'][]
      alarm: Alarm['s']
      last: number[]
      counts: boolean
      nonneg?: boolean
      rng: number
      ex?: number[]
      exN?: number
      load?: LoadFit
    }
    if (snap.kind !== 'ensemble' || st.members.length !== this.#members.length)
      throw VGL_ERR_DETECT_SNAPSHOT(
        `cannot restore a ${snap.kind} snapshot with ${st.members?.length} members into an ensemble of ${this.#members.length}`,
      )
    this.#n = st.n
    this.#counts = st.counts
    this.#nonneg = st.nonneg ?? st.counts
    this.#rng.rng = st.rng
    this.#ex = Float64Array.from(st.ex ?? this.#ex.map(() => 0))
    this.#exN = st.exN ?? 0
    this.#load = st.load ? { ...st.load } : { dev: NaN, sw: 0, sh: 0, sr: 0, shh: 0, shr: 0, nh: 0 }
    this.#jitFor = NaN
    st.members.forEach((m, i) =>
      (this.#members[i] as unknown as { restore(s: DetectorSnapshot): void }).restore(m),
    )
    st.cal.forEach((c, i) => (this.#cal[i].s = structuredClone(c)))
    this.#alarm.s = structuredClone(st.alarm)
    this.#last = [...st.last]
    return this
  }
}
