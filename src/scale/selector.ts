/**
 * @module Online policy selection (pure, no I/O). Demand does not depend on how many replicas run,
 * so every candidate policy can be replayed exactly on the demand observed so far: each keeps a
 * shadow fleet (replicas that start, become ready after the start-up delay, are removed) and counts
 * its own under-provisioned time and replica-time. At each decision the policy follows the
 * candidate that was short least over the recent past among those whose replica-time stayed
 * within the budget of the HPA-shaped candidate.
 *
 * ```
 * observed ─┬─▶ HPA-shaped (reference)        ─▶ shadow ─▶ trailing under / replica-time
 *           ├─▶ forecast band, 3 budgets      ─▶ shadow ─▶   "
 *           ├─▶ local-volatility band, 4 q    ─▶ shadow ─▶   "
 *           ├─▶ momentum, 2 k                 ─▶ shadow ─▶   "
 *           ├─▶ echo of the last 2 cycles     ─▶ shadow ─▶   "   (hour, day, week)
 *           ├─▶ floor at a percentile, day/week ─▶ shadow ─▶  "
 *           ├─▶ analog: after stretches like now, 5 q ─▶ shadow ─▶ "
 *           └─▶ hold the window's peak, W × u ─▶ shadow ─▶   "
 * every shadow but the reference's runs max(its ask, the reference's ask): what following it runs
 * leader = fewest under-provisioned minutes among shadows with replica-time ≤ (1+budget)·reference;
 *          among equally short ones, the one spending most within ¾ of the budget (lately and now)
 *          whose scale-down waits at most 3 stabilisation windows and that scales at most 3× as
 *          often as the reference (+ 1 action per 2 h)
 * pair   = a candidate A within the budget and one B over it (≤ 2× the reference) whose line
 *          through (replica-time, under) is lowest at the budget; used instead of the leader
 *          when clearly lower than the leader's shortfall: A throughout, B too while the
 *          policy's own trailing replica-time stays below the budget (paced)
 * output = the leader's count (or the pair's larger one), a small scale-down held to the highest
 *          ask of the last 5 min (dwell) and ignored when it removes no more than 10 % of the
 *          replicas (tolerance, as in every candidate but the reference, so their shadow fleets
 *          measure what it costs)
 * ```
 *
 * No single rule wins on every kind of demand: a forecast's band anticipates recurring and ramping
 * surges, a band scaled by the recent one-step volatility holds capacity through clustered bursts,
 * the echo meets a surge that came at this time of the hour, day or week in each of the last two
 * cycles (a scheduled job), the analog one in a rhythm no season names (what followed the past
 * stretches most like now), and on near-white noise the best causal choices are to hold the recent
 * peak or a floor at a percentile of the last day's or week's demand (bursts that come at no time
 * one could tell still come up to it). Which one fits a service is measured on its own traffic rather than guessed. Where the
 * best one costs more than the budget (meeting every scheduled surge ahead holds its replicas a
 * lead time longer than reacting does), following it part of the time buys that part of its gain.
 */
import {
  HPA_STABILIZATION_MS,
  HPA_TOLERANCE,
  reasonOf,
  replicasFor,
  ScalingPolicy,
  WindowMax,
  type Decision,
  type DecisionInput,
  type ScalingLimits,
} from './policy.js'
import { candidatePeriods } from '../forecast/seasonality.js'
import { SlidingSorted } from '../forecast/sliding-sorted.js'
import { AnalogPeaks } from './analog.js'

export interface SelectingPolicyOptions {
  readonly limits: ScalingLimits
  /** a scale-down waits until the load of this long a window needed fewer replicas */
  readonly stabilizationMs: number
  /** from asking for a replica until it serves */
  readonly startupMs: number
  /** the interval between decisions */
  readonly stepMs: number
  /** replica-time the chosen candidate may spend beyond the HPA-shaped one, as a fraction (default 0.18) */
  readonly budget?: number
  /** time constant of the trailing under-provisioning and replica-time (default 2 days) */
  readonly memoryMs?: number
  /**
   * a scale-down goes only as low as the followed candidate asked for throughout this long a
   * window (default 5 minutes, at most `stabilizationMs`): candidates step a replica down and up again as their bands move,
   * and every step is a scaling action; scale-ups are never held back. Within the budget, a
   * scale-down removing no more than 10 % of the replicas (the HPA's tolerance) is ignored too.
   */
  readonly dwellMs?: number
}

const DEFAULT_BUDGET = 0.18
const DEFAULT_MEMORY_MS = 2 * 86_400_000
const DEFAULT_DWELL_MS = 300_000
/** the dwell's budget is judged as if the policy had run the reference's fleet this long before it started */
const DWELL_PRIOR_MS = 3_600_000
/** the dwell holds only a scale-down removing at most this share of the replicas (or one) */
const DWELL_MAX_DROP = 0.25
/**
 * The forecast-driven candidates scale up only once their need exceeds the current count by this
 * fraction (PolicyOptions.upTolerance); the observed load still scales up at once
 */
const FORECAST_UP_TOLERANCE = 0.2
/** every candidate but the reference ignores a scale-down of no more than this fraction (the HPA's) */
const DOWN_TOLERANCE = HPA_TOLERANCE
/** headroom budgets of the forecast candidates (see PolicyOptions.headroomBudget) */
const FORECAST_BUDGETS = [0.15, 0.3, 0.6]
/** band levels of the local-volatility candidates */
const VOLATILITY_LEVELS = [0.8, 0.9, 0.95, 0.98]
/** windows whose peak the hold candidates keep, in stabilisation windows (5 min: 5 min to 3 h), and the utilisations they size it at */
const HOLD_WINDOWS = [1, 3, 12, 36]
const HOLD_UTILIZATIONS = [0.6, 0.7, 0.8, 0.9, 1]
/**
 * Quantiles of the last day's observed demand the floor candidates hold capacity for (at full
 * utilisation): on demand whose bursts come at no time one could tell in advance, a floor at a
 * quantile of recent demand meets the bursts up to it without waiting for them
 */
const FLOOR_QUANTILES = [0.5, 0.75, 0.9]
/** the windows whose demand the floors take a quantile of: a day and a week (a week's weekday and weekend) */
const FLOOR_WINDOWS_MS = [86_400_000, 604_800_000]
/** values a floor window keeps at most (a week of 5-minute rows is 2,016) */
const FLOOR_MAX_VALUES = 4096
/** quantiles of the peak that followed the recent stretches most like the latest one (see AnalogPeaks) */
const ANALOG_QUANTILES = [0.4, 0.5, 0.6, 0.75, 0.9]
const ANALOG_NEIGHBOURS = 32
/** rows an analog compares: at least this many, and twice the lead */
const ANALOG_MIN_CONTEXT = 6
/** the past an analog searches: a week, at most FLOOR_MAX_VALUES rows */
const ANALOG_WINDOW_MS = 604_800_000
/** multiples of the last rise the momentum candidates expect to continue over the lead time */
const MOMENTUM = [0.5, 1]
/** a challenger replaces the leader when it was short this much less (or the leader is over budget) */
const SWITCH_MARGIN = 0.9
/**
 * Between equally short candidates the policy moves to one that spends at least this much more
 * replica-time, and only while that one spends at most this share of the budget
 */
const TIE_SWITCH_MARGIN = 1.02
const TIE_SWITCH_EDGE = 0.75
/**
 * ... and only while that one scales at most this many times as often as the HPA-shaped candidate,
 * plus one action per TIE_ACTION_EXTRA_MS: on a quiet service whose load hovers at a replica
 * boundary, the candidate spending most is often one that adds a replica at every crossing and
 * removes it at the next decision, a scaling action every few decisions bought for a few minutes
 * of shortfall avoided in weeks. A candidate shorter than the others is still followed however
 * often it acts.
 */
const TIE_ACTION_MULT = 3
const TIE_ACTION_EXTRA_MS = 3_600_000
/** ... and only while that one holds a scale-down for at most this many stabilisation windows */
const TIE_HOLD_WINDOWS = 3
/**
 * Seasons the echo candidates look back over: a surge must have come at this phase in each of
 * them (a one-off spike is not echoed). Their periods are the natural cycles the decision
 * interval divides (an hour, a day, a week), kept to those whose seasons fit in ECHO_MAX_STEPS.
 */
const ECHO_SEASONS = 2
const ECHO_MAX_STEPS = 25_000
/** steps either side of the phase window an echo also looks at: a job that ran a step early or late */
const ECHO_JITTER = 1
/**
 * Pacing (see #pickPair): the over-budget candidate of a pair is followed while the policy's own
 * trailing replica-time stays this share of the reference's below the budget, and again once it
 * is PACE_ON below (hysteresis: every switch starts replicas that serve only after the start-up
 * delay; the margin keeps the whole run's replica-time within the budget, not only its trail).
 */
const PACE_OFF = 0.01
const PACE_ON = 0.03
/** the over-budget candidate of a pair spends at most this multiple of the reference (a wider one buys little per replica) */
const PACE_MAX_COST = 2
/** weight of the newest squared one-step change in the volatility estimate */
const VOLATILITY_ALPHA = 0.05
const BAND_SCORES = 1000
const MIN_SCORES = 20

/**
 * A fleet replayed on the observed demand, accounted exactly as `simulate` does: replicas count
 * in replica-time from the decision, serve from `startupMs` later, unready ones are removed first.
 */
export class ShadowFleet {
  /** ready time of each replica */
  #replicas: number[]
  under = 0
  replica = 0
  /** trailing scaling actions per millisecond (the first sizing of the fleet is none) */
  actions = 0
  #acted = 0

  constructor(
    /** mutable: a learned capacity changes how the fleet is accounted from then on */
    public capacityPerReplica: number,
    private readonly startupMs: number,
    initial: number,
  ) {
    this.#replicas = Array.from({ length: initial }, () => -Infinity)
  }

  get current(): number {
    return this.#replicas.length
  }

  /** Accounts the interval (endMs − stepMs, endMs] at `demand`; `w` weighs it into the trailing figures. */
  account(endMs: number, stepMs: number, demand: number, w: number): void {
    const startMs = endMs - stepMs
    let ready = 0
    const cuts: number[] = []
    for (const r of this.#replicas)
      if (r <= startMs) ready++
      else if (r < endMs) cuts.push(r)
    cuts.sort((a, b) => a - b)
    cuts.push(endMs)
    let from = startMs
    let under = 0
    for (const cut of cuts) {
      if (demand > this.capacityPerReplica * ready + 1e-9) under += cut - from
      from = cut
      ready++
    }
    this.under += w * (under - this.under)
    this.replica += w * (this.#replicas.length * stepMs - this.replica)
    this.actions += w * (this.#acted / Math.max(1, stepMs) - this.actions)
    this.#acted = 0
  }

  apply(atMs: number, desired: number): void {
    const n = this.#replicas.length
    if (desired !== n && n > 0) this.#acted++
    if (desired > n) for (let k = n; k < desired; k++) this.#replicas.push(atMs + this.startupMs)
    else if (desired < n) {
      this.#replicas.sort((a, b) => a - b)
      this.#replicas.length = desired
    }
  }
}

/**
 * An upper band for the peak over the next `lead` decisions, centred on the forecast (or the
 * observed value) and scaled by the recent one-step volatility: scores are the realised peak's
 * distance from the centre in units of the volatility at the time, so after a burst the same
 * quantile buys more headroom and in calm stretches less (split conformal with a local scale).
 */
export class VolatilityBand {
  readonly #history: number[] = []
  readonly #pending: { i: number; centre: number; scale: number }[] = []
  readonly #scores = new SlidingSorted(BAND_SCORES)
  #var = 0
  #sum = 0
  #centre = 0
  #scale = 0

  constructor(private readonly lead: number) {}

  update(observed: number, centre: number): void {
    const h = this.#history
    const prev = h.length > 0 ? h[h.length - 1] : observed
    h.push(observed)
    this.#sum += observed
    const n = h.length
    while (this.#pending.length > 0 && n - 1 - this.#pending[0].i >= this.lead) {
      const p = this.#pending.shift()!
      let peak = 0
      for (let k = p.i + 1; k <= p.i + this.lead; k++) peak = Math.max(peak, h[k])
      this.#scores.push((peak - p.centre) / p.scale)
    }
    const e = observed - prev
    this.#var = n === 1 ? 0 : (1 - VOLATILITY_ALPHA) * this.#var + VOLATILITY_ALPHA * e * e
    this.#scale = Math.max(Math.sqrt(this.#var), (0.02 * this.#sum) / n, 1e-9)
    this.#centre = centre
    this.#pending.push({ i: n - 1, centre, scale: this.#scale })
    // the history only has to reach back to the oldest pending prediction
    if (h.length > 4 * this.lead + 64) {
      const drop = h.length - (2 * this.lead + 32)
      h.splice(0, drop)
      for (const p of this.#pending) p.i -= drop
    }
  }

  /** The band's upper edge at quantile q; null until enough peaks were realised. */
  upper(q: number): number | null {
    if (this.#scores.length < MIN_SCORES) return null
    const s = this.#scores
    const rank = Math.min(s.length, Math.max(1, Math.ceil(q * (s.length + 1))))
    return this.#centre + Math.max(0, s.rank(rank)) * this.#scale
  }
}

/** A duration as a person reads it: `45 s`, `4 min`, `1.5 h`. */
export const fmtMs = (ms: number): string =>
  ms >= 3_600_000
    ? `${+(ms / 3_600_000).toFixed(1)} h`
    : ms >= 60_000
      ? `${+(ms / 60_000).toFixed(1)} min`
      : `${+(ms / 1000).toFixed(1)} s`

interface Candidate {
  readonly name: string
  readonly policy: ScalingPolicy
  /** the volatility band's quantile (those candidates only) */
  readonly q?: number
  /** the momentum candidates' multiple of the last rise, extrapolated over the lead time */
  readonly momentum?: number
  /** the echo candidates' period in decisions */
  readonly period?: number
  /** the floor candidates' quantile of the demand within a window, and which window (index) */
  readonly floor?: number
  readonly floorWindow?: number
  /** the analog candidates' index into ANALOG_QUANTILES */
  readonly analog?: number
  /** how long a scale-down waits (the hold candidates' window, else the service's stabilisation) */
  readonly holdMs: number
  readonly fleet: ShadowFleet
}

/**
 * The reference candidate, shaped like the Kubernetes HPA: the observed load at the target
 * utilisation, a 10 % tolerance, a 5-minute scale-down stabilisation. A {@link SelectingPolicy}
 * is floored at what it asks for. Asked once, from the replicas running, it gives the scale-up
 * the observed load alone asks for (the live autoscaler makes that one before a term's replays).
 */
export function hpaShaped(limits: ScalingLimits): ScalingPolicy {
  return new ScalingPolicy({
    kind: 'reactive',
    limits,
    stabilizationMs: HPA_STABILIZATION_MS,
    tolerance: HPA_TOLERANCE,
  })
}

/**
 * Decides like {@link ScalingPolicy} (same input, same Decision) by following the candidate whose
 * shadow fleet was short least lately within the replica-time budget. Strictly online.
 */
export class SelectingPolicy {
  #o: SelectingPolicyOptions
  readonly #candidates: Candidate[] = []
  readonly #band: VolatilityBand
  /** the observed demand within each floor window, sorted */
  readonly #recent: SlidingSorted[] = []
  readonly #analog: AnalogPeaks
  readonly #lead: number
  #leader = 1
  /** the over-budget candidate paced in (-1: none) and whether the budget allows it now */
  #paced = -1
  #pairA = 0
  #pacing = false
  /** observed demand as far back as the longest echo reaches (a ring; #seen values written in all) */
  #history = new Float64Array(0)
  #seen = 0
  #lastMs: number | null = null
  #lastObserved: number | null = null
  /** the trailing replica-time of what this policy asked for (as the candidates' fleets count it) */
  #spent = 0
  /** (atMs, desired) the followed candidates asked for within the dwell window, oldest first */
  #asked: { atMs: number; desired: number }[] = []
  /**
   * the weight the trailing figures have gathered so far (1 − (1−w)ⁿ): they start from 0, so a
   * constant compared with them is scaled by it
   */
  #weight = 0
  /** the reactive needs the observed load showed within the service's stabilisation window */
  readonly #windowNeeds = new WindowMax()
  /** needs of windows not decided on in order (see {@link remember}), held as long as those */
  #remembered: { atMs: number; need: number }[] = []

  constructor(opts: SelectingPolicyOptions) {
    if (!(opts.stepMs > 0)) throw new RangeError('stepMs: expected > 0')
    if (!(opts.startupMs >= 0)) throw new RangeError('startupMs: expected ≥ 0')
    this.#o = opts
    const l = opts.limits
    const stab = opts.stabilizationMs
    const add = (
      name: string,
      policy: ScalingPolicy,
      extra: {
        q?: number
        momentum?: number
        period?: number
        floor?: number
        floorWindow?: number
        analog?: number
        holdMs?: number
      } = {},
    ) =>
      this.#candidates.push({
        name,
        policy,
        ...extra,
        holdMs: extra.holdMs ?? stab,
        fleet: new ShadowFleet(l.capacityPerReplica, opts.startupMs, 0),
      })
    add('HPA-shaped', hpaShaped(l), { holdMs: HPA_STABILIZATION_MS })
    const forecastDriven = (headroomBudget: number) =>
      new ScalingPolicy({
        kind: 'predictive',
        limits: l,
        stabilizationMs: stab,
        headroomBudget,
        upTolerance: FORECAST_UP_TOLERANCE,
        downTolerance: DOWN_TOLERANCE,
      })
    // named by what each spends, apart from the service's own headroomBudget, which the selection keeps
    for (const b of FORECAST_BUDGETS)
      add(`forecast band (up to +${Math.round(b * 100)}% replica-time)`, forecastDriven(b))
    for (const q of VOLATILITY_LEVELS) add(`volatility band at ${q * 100}%`, forecastDriven(Infinity), { q })
    for (const k of MOMENTUM) add(`momentum ×${k}`, forecastDriven(Infinity), { momentum: k })
    FLOOR_WINDOWS_MS.forEach((ms, floorWindow) => {
      const n = Math.max(1, Math.min(FLOOR_MAX_VALUES, Math.round(ms / opts.stepMs)))
      this.#recent.push(new SlidingSorted(n))
      for (const f of FLOOR_QUANTILES)
        add(`floor at the ${f * 100}th percentile of ${fmtMs(n * opts.stepMs)}`, forecastDriven(Infinity), {
          floor: f,
          floorWindow,
        })
    })
    const lead = 1 + Math.ceil(opts.startupMs / opts.stepMs - 1e-9)
    this.#analog = new AnalogPeaks(
      Math.max(ANALOG_MIN_CONTEXT, 2 * lead),
      lead,
      Math.max(1, Math.min(FLOOR_MAX_VALUES, Math.round(ANALOG_WINDOW_MS / opts.stepMs))),
      ANALOG_NEIGHBOURS,
    )
    ANALOG_QUANTILES.forEach((q, analog) =>
      add(
        `the ${q * 100}th percentile of what followed the recent stretches most like now`,
        forecastDriven(Infinity),
        {
          analog,
        },
      ),
    )
    let reach = 0
    for (const period of candidatePeriods(opts.stepMs / 1000))
      if (period > lead + 2 * ECHO_JITTER && ECHO_SEASONS * period <= ECHO_MAX_STEPS) {
        const name = `echo of the last ${ECHO_SEASONS} ${fmtMs(period * opts.stepMs)} cycles`
        add(name, forecastDriven(Infinity), { period })
        reach = Math.max(reach, ECHO_SEASONS * period + ECHO_JITTER + 1)
      }
    for (const w of stab > 0 ? HOLD_WINDOWS.map((k) => k * stab) : [0])
      for (const u of HOLD_UTILIZATIONS)
        add(
          `hold the ${fmtMs(w)} peak at ${u * 100}%`,
          new ScalingPolicy({
            kind: 'reactive',
            limits: { ...l, targetUtilization: Math.min(u, 1) },
            stabilizationMs: w,
            downTolerance: DOWN_TOLERANCE,
          }),
          { holdMs: w },
        )
    this.#lead = lead
    this.#history = new Float64Array(reach)
    this.#band = new VolatilityBand(this.#lead)
  }

  /**
   * Sizes the following decisions with another capacity per replica (a learned one), in every
   * candidate and shadow fleet; what the fleets accounted so far stays as it was counted.
   */
  setCapacity(capacityPerReplica: number): void {
    if (capacityPerReplica === this.#o.limits.capacityPerReplica) return
    for (const c of this.#candidates) {
      c.policy.setCapacity(capacityPerReplica)
      c.fleet.capacityPerReplica = capacityPerReplica
    }
    this.#o = { ...this.#o, limits: { ...this.#o.limits, capacityPerReplica } }
  }

  /**
   * Counts `observed` in the service's stabilisation window as if decided on at `atMs`, without
   * deciding: a window whose roll-up came after it was decided on as idle (or with fewer
   * gateways' requests), so a scale-down waits for it as for any other window. Only the
   * stabilisation window holds it; the candidates' replays saw what was known then.
   */
  remember(atMs: number, observed: number): void {
    const l = this.#o.limits
    const need = replicasFor(observed, l.capacityPerReplica * l.targetUtilization)
    if (need > 0) this.#remembered.push({ atMs, need })
  }

  get capacityPerReplica(): number {
    return this.#o.limits.capacityPerReplica
  }

  /** the time constant of the trailing figures candidates are chosen on: older demand has faded */
  get memoryMs(): number {
    return this.#o.memoryMs ?? DEFAULT_MEMORY_MS
  }

  /** The over-budget candidate followed too while the budget allows, or null. */
  get paced(): string | null {
    return this.#pacing && this.#paced >= 0 ? this.#candidates[this.#paced].name : null
  }

  /** The candidate followed now (within the budget). */
  get leader(): string {
    return this.#candidates[this.#followed].name
  }

  /** the candidate followed throughout: the pair's within-budget one, else the leader */
  get #followed(): number {
    return this.#paced >= 0 ? this.#pairA : this.#leader
  }

  decide(input: DecisionInput): Decision {
    const l = this.#o.limits
    const observed = Math.max(0, Number.isFinite(input.observed) ? input.observed : 0)
    const dt = this.#lastMs === null ? this.#o.stepMs : Math.max(0, input.atMs - this.#lastMs)
    const first = this.#lastMs === null
    this.#lastMs = input.atMs
    const w = 1 - Math.exp(-dt / (this.#o.memoryMs ?? DEFAULT_MEMORY_MS))
    this.#weight += w * (1 - this.#weight)
    const fc = input.forecast ?? null
    this.#band.update(observed, fc !== null ? Math.max(0, fc.point) : observed)
    const rise = Math.max(0, observed - (this.#lastObserved ?? observed))
    this.#lastObserved = observed
    if (this.#history.length > 0) this.#history[this.#seen % this.#history.length] = observed
    this.#seen++
    for (const r of this.#recent) r.push(observed)
    this.#analog.push(observed)
    const analog = this.#analog.quantiles(ANALOG_QUANTILES)

    const decisions: Decision[] = []
    for (const c of this.#candidates) {
      if (first) c.fleet.apply(-Infinity, Math.min(l.max, Math.max(l.min, input.current)))
      c.fleet.account(input.atMs, dt, observed, w)
      let forecast = fc
      if (c.q !== undefined) {
        const upper = this.#band.upper(c.q)
        const centre = fc !== null ? Math.max(0, fc.point) : observed
        forecast =
          upper === null
            ? fc
            : {
                point: centre,
                upper,
                model: `volatility band (${fc?.model ?? 'observed'})`,
                level: c.q * 100,
              }
      }
      if (c.period !== undefined) {
        const echo = this.#echo(c.period)
        forecast = echo === null ? null : { point: echo, upper: echo, model: c.name, level: 0 }
      }
      if (c.floor !== undefined) {
        const r = this.#recent[c.floorWindow ?? 0]
        const v = r.rank(Math.min(r.length, Math.max(1, Math.ceil(c.floor * r.length))))
        forecast = { point: 0, upper: v, model: c.name, level: c.floor * 100 }
      }
      if (c.analog !== undefined)
        forecast =
          analog === null
            ? null
            : {
                point: 0,
                upper: Math.max(0, analog[c.analog]),
                model: c.name,
                level: ANALOG_QUANTILES[c.analog] * 100,
              }
      if (c.momentum !== undefined) {
        const point = observed + c.momentum * this.#lead * rise
        forecast = rise > 0 ? { point, upper: point, model: 'momentum', level: 0 } : null
      }
      const d = c.policy.decide({ atMs: input.atMs, observed, current: c.fleet.current, forecast })
      // A candidate's fleet runs what following it runs: never fewer than the reference asks for
      // (the floor below). Counted on its own ask, a rule holding capacity where the reference does
      // not and shedding it where the reference holds would look within the budget and, followed,
      // spend the sum of both (1.26× the reference's replica-time on independent bursts).
      const ref = decisions[0]
      const floor =
        ref !== undefined &&
        (ref.driver !== 'stabilization' || this.#o.stabilizationMs >= HPA_STABILIZATION_MS)
          ? ref.desired
          : 0
      c.fleet.apply(input.atMs, Math.max(d.desired, floor))
      decisions.push(d)
    }
    this.#pick()
    this.#pickPair()

    const lead = decisions[this.#followed]
    const current = input.current
    let desired = lead.desired
    let driver = lead.driver
    // the candidate whose ask `desired` is, for the reason
    let source = { decision: lead, name: this.leader }
    // what this policy ran (as the candidates' fleets count it), against the budget
    this.#spent += w * (current * dt - this.#spent)
    const unit = this.#candidates[0].fleet.replica
    const cap = unit * (1 + (this.#o.budget ?? DEFAULT_BUDGET))
    if (this.#spent > cap - PACE_OFF * unit) this.#pacing = false
    else if (this.#spent < cap - PACE_ON * unit) this.#pacing = true
    const paced = this.#pacing && this.#paced >= 0 ? decisions[this.#paced] : null
    if (paced !== null && paced.desired > desired) {
      desired = paced.desired
      driver = paced.driver
      source = { decision: paced, name: this.#candidates[this.#paced].name }
    }
    // Never fewer than the HPA-shaped reference asks for now. The candidate followed for being
    // short least over the last days can still ask for less at a given moment (a peak held at a
    // higher utilisation, a band below the observed need after its stabilisation), and there the
    // policy would be short where the reactive baseline is not. The reference's fleet is the
    // budget's unit, so the floor costs little replica-time. The reference holds a scale-down for
    // the HPA's 5 minutes: a service configured to scale down sooner is not held by that.
    const reference = decisions[0]
    const floored =
      reference.desired > desired &&
      (reference.driver !== 'stabilization' || this.#o.stabilizationMs >= HPA_STABILIZATION_MS)
    if (floored) {
      desired = reference.desired
      driver = reference.driver
      source = { decision: reference, name: this.#candidates[0].name }
    }
    // never longer than the service's own scale-down stabilisation: a service configured to scale
    // down after 10 s must not be held for 5 minutes
    const dwell = Math.min(this.#o.dwellMs ?? DEFAULT_DWELL_MS, this.#o.stabilizationMs)
    this.#asked = this.#asked.filter((a) => a.atMs > input.atMs - dwell)
    this.#asked.push({ atMs: input.atMs, desired })
    // the dwell's extra replica-time counts against the same budget: over it, no dwell. In a
    // service's first hours the trailing figures hold only minutes, so a replica asked ahead of
    // the load spent the whole budget at once and was dropped at the next decision: judged as if
    // the policy had run what the reference ran for DWELL_PRIOR_MS before it started (a weight
    // that fades as the trailing figures fill, so the long-run budget is unchanged)
    const p0 = 1 - Math.exp(-DWELL_PRIOR_MS / (this.#o.memoryMs ?? DEFAULT_MEMORY_MS))
    const prior = this.#weight > 0 ? (p0 * (1 - this.#weight) * unit) / this.#weight : 0
    const withinBudget = this.#spent + prior <= cap + prior * (1 + (this.#o.budget ?? DEFAULT_BUDGET))
    if (desired < current && withinBudget) {
      let held = desired
      for (const a of this.#asked) held = Math.max(held, a.desired)
      held = Math.min(held, current)
      // the dwell is against churn, a replica or so at a time; a surge's end (its replicas held for
      // the stabilisation window already) is not held a second window
      const churn = current - desired <= Math.max(1, DWELL_MAX_DROP * current)
      if (held > desired && churn) {
        desired = held
        driver = 'stabilization'
      }
      // as the HPA's tolerance: a decline seen a replica at a time would remove one per decision
      if (desired < current && desired >= (1 - DOWN_TOLERANCE) * current - 1e-9) {
        desired = current
        driver = 'tolerance'
      }
    }
    // The service's stabilisation window is a promise to whoever configured it: whichever
    // candidate is followed (the HPA-shaped one holds only 5 minutes, a cheaper one may drop
    // sooner), a scale-down goes no lower than what the observed load needed within the window.
    const reactiveNeed = replicasFor(observed, l.capacityPerReplica * l.targetUtilization)
    let shown = this.#windowNeeds.push(input.atMs, reactiveNeed, this.#o.stabilizationMs)
    if (this.#remembered.length > 0) {
      this.#remembered = this.#remembered.filter((r) => r.atMs > input.atMs - this.#o.stabilizationMs)
      for (const r of this.#remembered) shown = Math.max(shown, r.need)
    }
    const windowNeed = Math.min(l.max, Math.max(reactiveNeed, shown))
    if (desired < current && desired < windowNeed) {
      desired = Math.min(current, windowNeed)
      driver = 'stabilization'
    }
    if (l.maxStepUp !== undefined && desired - current > l.maxStepUp) {
      desired = current + l.maxStepUp
      driver = 'step'
    }
    if (l.maxStepDown !== undefined && current - desired > l.maxStepDown) {
      desired = current - l.maxStepDown
      driver = 'step'
    }
    const direction = desired > current ? 'up' : desired < current ? 'down' : 'hold'
    const evidence = {
      ...lead.evidence,
      reactiveNeed,
      windowNeed,
      candidate: this.paced === null ? this.leader : `${this.leader} + ${this.paced}`,
    }
    // a candidate that sizes the observed load otherwise (a held peak, another utilisation) asks
    // for a count the service's own need does not explain: name the ask and the need apart. So
    // does one holding its own shadow fleet's count over its window, which can be more than the
    // service runs: a scale-up "because the stabilisation window still shows load needing" fewer
    const why =
      source.decision.desired === desired &&
      ((driver === 'reactive' && source.decision.evidence.reactiveNeed !== reactiveNeed) ||
        (driver === 'stabilization' && desired > current))
        ? `${source.name} asks for ${desired}, the observed load alone needs ${reactiveNeed}`
        : undefined
    return {
      atMs: input.atMs,
      current,
      desired,
      direction,
      driver,
      reason:
        // the dashboard shows this sentence to people: the rule in quotes, then why it is followed
        `${reasonOf(direction, driver, evidence, current, desired, l, why)}; following the rule "${this.leader}", the one short of capacity least lately within the replica-time budget` +
        (this.paced === null ? '' : `, and ${this.paced} as far as the budget allows`) +
        (floored ? `, raised to the ${reference.desired} the HPA-shaped rule asks for` : ''),
      evidence,
    }
  }

  /**
   * The demand this phase of the cycle saw in each of the last seasons: the peak over the rows
   * up to the lead time ahead (a step of jitter either side), one period back, two periods back,
   * ...; the lowest of them, so only a surge that recurred in every
   * season is expected again (a scheduled job, a daily rush). Null until the seasons are observed.
   */
  #echo(period: number): number | null {
    const h = this.#history
    const last = this.#seen - 1
    if (last - ECHO_SEASONS * period - ECHO_JITTER < 0) return null
    let low = Infinity
    for (let k = 1; k <= ECHO_SEASONS; k++) {
      const from = last - k * period + 1 - ECHO_JITTER
      const to = Math.min(last, last - k * period + this.#lead + ECHO_JITTER)
      let peak = 0
      for (let j = from; j <= to; j++) peak = Math.max(peak, h[j % h.length])
      low = Math.min(low, peak)
    }
    return low
  }

  /**
   * The candidate short least lately within the budget; among candidates equally short (a quiet
   * stretch in which none was short), the one that spends most of the budget: no shortfall lately
   * does not mean no burst next, and the budget is there to buy headroom against it.
   */
  #pick(): void {
    const cs = this.#candidates
    const budget = this.#o.budget ?? DEFAULT_BUDGET
    const reference = cs[0].fleet
    const ref = reference.replica * (1 + budget)
    // clear of the budget's edge, lately and now: a candidate near it would be dropped again soon.
    // Spending more buys headroom, not a much longer wait: a candidate that holds a scale-down for
    // more than TIE_HOLD_WINDOWS of the service's stabilisation windows (the reference's 5 minutes
    // for a service that scales down after seconds, a hold of 12 windows' peak) is not followed
    // for spending more.
    const edge = 1 + TIE_SWITCH_EDGE * budget
    const calm = (i: number) =>
      cs[i].fleet.actions <= TIE_ACTION_MULT * reference.actions + this.#weight / TIE_ACTION_EXTRA_MS
    const clear = (i: number) => {
      const f = cs[i].fleet
      return (
        cs[i].holdMs <= TIE_HOLD_WINDOWS * this.#o.stabilizationMs &&
        calm(i) &&
        f.replica <= edge * reference.replica &&
        f.current <= edge * reference.current
      )
    }
    let best = -1
    for (let i = 0; i < cs.length; i++) {
      const f = cs[i].fleet
      if (f.replica > ref) continue
      const b = best < 0 ? null : cs[best].fleet
      if (b === null || f.under < b.under - 1e-9) best = i
      else if (Math.abs(f.under - b.under) <= 1e-9) {
        // equally short: the one clear of the edge that spends most, else the cheapest
        const fc = clear(i)
        const bc = clear(best)
        if ((fc && !bc) || (fc === bc && (fc ? f.replica > b.replica : f.replica < b.replica))) best = i
      }
    }
    if (best < 0 || best === this.#leader) return
    const leader = cs[this.#leader].fleet
    const b = cs[best].fleet
    // equally short: move to the candidate that spends clearly more, if it is clear of the edge,
    // or away from a leader that came to scale far more often than the reference to a calm one
    const tie = Math.abs(b.under - leader.under) <= 1e-9
    const spendsMore = tie && b.replica > TIE_SWITCH_MARGIN * leader.replica && clear(best)
    const calmer = tie && !calm(this.#leader) && calm(best)
    if (leader.replica > ref || b.under < SWITCH_MARGIN * leader.under || spendsMore || calmer)
      this.#leader = best
  }

  /**
   * A pair to mix: a candidate within the budget followed throughout and one over it followed too
   * while the policy's own replica-time stays within the budget. Mixed so, they are short about
   * what the line between them gives at the budget; the pair whose line is lowest there is used
   * when it beats the single leader clearly (a surge that recurs on schedule, met ahead in as
   * many of its recurrences as the budget pays for, where meeting every one would break it).
   */
  #pickPair(): void {
    const cs = this.#candidates
    const reference = cs[0].fleet
    const cap = reference.replica * (1 + (this.#o.budget ?? DEFAULT_BUDGET))
    const at = (a: number, b: number): number => {
      const fa = cs[a].fleet
      const fb = cs[b].fleet
      return fa.under + ((cap - fa.replica) * (fb.under - fa.under)) / Math.max(1e-9, fb.replica - fa.replica)
    }
    const valid = (a: number, b: number): boolean =>
      cs[a].fleet.replica <= cap &&
      cs[b].fleet.replica > cap &&
      cs[b].fleet.replica <= PACE_MAX_COST * reference.replica &&
      cs[b].fleet.under < cs[a].fleet.under
    let bestA = -1
    let bestB = -1
    let best = Infinity
    for (let b = 0; b < cs.length; b++) {
      const fb = cs[b].fleet
      if (fb.replica <= cap || fb.replica > PACE_MAX_COST * reference.replica) continue
      for (let a = 0; a < cs.length; a++) {
        if (!valid(a, b)) continue
        const u = at(a, b)
        if (u < best) {
          best = u
          bestA = a
          bestB = b
        }
      }
    }
    const single = cs[this.#leader].fleet.under
    const kept = this.#paced >= 0 && valid(this.#pairA, this.#paced) ? at(this.#pairA, this.#paced) : Infinity
    if (kept < Infinity && kept < single && !(best < SWITCH_MARGIN * kept)) return
    if (bestB >= 0 && best < SWITCH_MARGIN * single) {
      this.#pairA = bestA
      this.#paced = bestB
    } else this.#paced = -1
  }
}
