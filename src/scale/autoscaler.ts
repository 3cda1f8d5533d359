/**
 * @module The live autoscaler: once per telemetry window, for each service with a `scale:` block,
 * reads the observed request rate and the forecast's upper band over the lead time, asks the
 * ScalingPolicy, and, when the count changes, records the decision in the action log with its
 * evidence and (mode enforce) applies it through the actuator, retried with backoff. Manual scale
 * and rolling restart from the admin API go through the same actuator and the same log.
 *
 * ```
 * tick (every window) ─▶ observe(service) + forecast(service) ─▶ policy.decide ─▶ changed?
 *   shadow:  record(mode shadow)                      (nothing changes; the shadow count moves)
 *   enforce: record(mode enforce) ─▶ actuator.scaleTo (retry, backoff) ─▶ settle ok | failed
 * ```
 * Reads and writes go through injected functions: the runtime wires them to the control plane
 * (observations, forecasts, the leader's fenced action log) and to the actuator. Each service
 * decides in a lane of its own: one whose actuator waits for a replica's health check, retries or
 * hangs is skipped until it is done, and holds no other service's decision.
 *
 * A service configured to learn its capacity (`capacityPerReplica: { learn: true, … }`) feeds
 * each window in which its ready pool did not change to a {@link CapacityEstimator} and sizes
 * with its estimate (kept while within 5 %, so noise does not churn decisions). The evidence is
 * saved through `capacityState` (the store's fenced control state) about once a minute and at
 * stop, and restored when the autoscaler starts leading: a restarted or newly elected control
 * plane goes on from what was learned. Evidence from replicas of another kind (another command,
 * image or Deployment) or judged on another latency quantile is discarded.
 */
import type { ActuatorConfig, LearnedCapacityConfig, ScaleConfig } from '../config/scale-schema.js'
import { VGL_ERR_SCALE_REQUEST, VGL_ERR_SCALE_UNKNOWN_SERVICE, VigilError, withFix } from '../errors.js'
import { KeyedQueue, type Actuator, type Replica } from './actuator.js'
import {
  CapacityEstimator,
  type CapacityEstimate,
  type CapacityEvidence,
  type CapacityLearningOptions,
  type CapacityWindow,
} from './capacity.js'
import type { Decision, PeakForecast, ScalingLimits } from './policy.js'
import { fmtMs, hpaShaped, SelectingPolicy } from './selector.js'

/**
 * A failing decision's tries, in its action's `result.data`: the same decision (same count from,
 * same count to) retried at later windows against an actuator that keeps failing is one scaling
 * event, so it stays one record, settled again at each try, instead of a new record per window.
 */
export interface FailureStreak {
  /** decisions that asked for it and failed (each made up to `attempts` actuator calls) */
  failures: number
  /** actuator calls in all */
  calls: number
  firstMs: number
  lastMs: number
  lastError: string
}

/** What the autoscaler writes to the action log (the control plane's ActionInput). */
export interface ScaleActionInput {
  /**
   * scale.alert: the actuator started failing (once per failure streak); scale.recovered: it works
   * again; scale.adopt: replicas a killed control plane left running were adopted or stopped
   */
  kind:
    'scale.replicas' | 'scale.manual' | 'scale.restart' | 'scale.alert' | 'scale.recovered' | 'scale.adopt'
  policy: string
  mode: 'shadow' | 'enforce'
  target: string
  before: number
  after: number
  reason: string
  evidence: unknown
  /**
   * the id of the record to retry (a failing decision asked for again): the log checks the fence
   * as for a new record, and keeps the one it has
   */
  id?: string
}

export interface RecordedAction {
  id: string
  result: { status: string }
}

export interface AutoscalerOptions {
  /** services with a scale block */
  services: Readonly<Record<string, ScaleConfig>>
  /** the actuator of a service (null: none configured; its decisions are shadow) */
  actuatorFor(service: string): Actuator | null
  windowMs: number
  /** the newest observed window of the service (its {service, env} roll-up), or null */
  observe(service: string): Promise<Observation | null>
  /**
   * the end of the windows the control plane has closed (read before `observe`): a window ending
   * at or before it with no observation had no requests, and is decided on as a zero-rate window;
   * absent or -Infinity (windows held back after a takeover): only observed windows are decided on
   */
  closedUpTo?(): Promise<number>
  /**
   * replicas in the pool when no actuator reports ready replicas (shadow mode: the configured
   * targets); a service learning its capacity needs it to know the load per replica
   */
  configuredTargets?(service: string): number
  /**
   * forecast points of the service's rate, from the window after the newest one the forecast was
   * fitted on, or null (warm-up, disabled); with `horizon`, at least that many points (fitted now
   * when the newest forecast has fewer)
   */
  forecast(
    service: string,
    horizon?: number,
  ): Promise<{
    points: { atMs: number; forecast: number; upper: number }[]
    model: string
    level: number
  } | null>
  /**
   * the service's stored windows (its {service, env} roll-up) starting in [fromMs, toMs), oldest
   * first; a window without requests has none. Replayed into a new policy at a term's first
   * decision (docs/autoscaling.md, "Where it starts"); absent: a new term holds the replicas
   * running for a stabilisation window of its own
   */
  history?(service: string, fromMs: number, toMs: number): Promise<Observation[]>
  /**
   * the newest manual scale of the service recorded at or after `sinceMs` that succeeded (the
   * action log), or null: a new term restores the hold it put on scale-downs (absent: none)
   */
  lastManual?(
    service: string,
    sinceMs: number,
  ): Promise<{ count: number; atMs: number; reason: string } | null>
  /** false while this process must not act (a standing-by control plane); default always true */
  leading?(): boolean
  /** records an action (throws when this process must not act: not leader, fenced) */
  record(input: ScaleActionInput): Promise<RecordedAction>
  /**
   * sets an enforced action's outcome; a failing decision retried unchanged at later windows is
   * settled again on its first record, `data` counting the failures (see {@link FailedDecision})
   */
  settle(
    rec: RecordedAction,
    result: { status: 'ok' | 'failed'; detail?: string; data?: FailureStreak },
  ): Promise<void>
  /** a failed actuator call, once per failure streak: log it and raise an alert */
  onFailure?(service: string, err: Error): void
  onError?(err: Error, what: string): void
  now?: () => number
  /** actuator attempts per action (default 3) and first backoff (default 1 s, doubling) */
  attempts?: number
  backoffMs?: number
  /** where learned capacity evidence outlives the process; absent: it lives in memory only */
  capacityState?: CapacityStateStore
  /** how often a learning service's evidence is saved (default 60 s; and at stop) */
  saveCapacityEveryMs?: number
}

/** Learned capacity evidence as saved, one entry per service. */
export interface SavedCapacity {
  version: 1
  quantile: 'p95' | 'p99'
  /** what the replicas run ({@link replicaIdentity}): evidence of other replicas is not reused */
  replica: string
  savedMs: number
  /** [atMs, perReplica, latencyMs, errorRatio, requests], oldest first */
  windows: [number, number, number, number, number][]
}

/** The store's fenced control state, as the autoscaler uses it. */
export interface CapacityStateStore {
  load(): Promise<{ service: string; data: unknown }[]>
  /** throws when this process may no longer write (not leading, fenced) */
  save(service: string, data: SavedCapacity): Promise<void>
}

/**
 * What a service's replicas run, as far as the config says: learned capacity belongs to it. A
 * Kubernetes Deployment's pod template is not in the config, so a new image rolled out there
 * keeps the evidence (discard it with a new `latencyQuantile` or by renaming the Deployment).
 */
export function replicaIdentity(a: ActuatorConfig | undefined): string {
  if (a === undefined) return 'configured targets'
  switch (a.kind) {
    case 'process':
      return JSON.stringify(['process', a.command, a.env])
    case 'docker':
      return JSON.stringify(['docker', a.image, a.env, a.containerPort])
    case 'kubernetes':
      return JSON.stringify(['kubernetes', a.namespace, a.deployment ?? null])
  }
}

/** The windows of saved evidence, or why it cannot be used. */
function usableWindows(data: unknown, quantile: 'p95' | 'p99', replica: string): CapacityWindow[] | string {
  const d = data as Partial<SavedCapacity> | null
  if (d === null || typeof d !== 'object' || d.version !== 1 || !Array.isArray(d.windows))
    return 'not capacity evidence this version reads'
  if (d.quantile !== quantile) return `learned on ${d.quantile}, now judged on ${quantile}`
  if (d.replica !== replica) return 'learned on replicas of another command, image or Deployment'
  const out: CapacityWindow[] = []
  for (const w of d.windows) {
    if (!Array.isArray(w) || w.length !== 5 || !w.every((x) => typeof x === 'number' && Number.isFinite(x)))
      return 'a window is malformed'
    out.push({ atMs: w[0], perReplica: w[1], latencyMs: w[2], errorRatio: w[3], requests: w[4] })
  }
  return out
}

/** One telemetry window of a service; the latency fields feed capacity learning. */
export interface Observation {
  /** the window's start */
  atMs: number
  /** every request, the ones the gateway answered itself included */
  ratePerSec: number
  /** requests sent to the service: a latency quantile of fewer than a handful is noise */
  requests?: number
  p95?: number | null
  p99?: number | null
  /** the service's 5xx ÷ the requests sent to it */
  errorRatio?: number
  /** requests the gateway answered itself (429s, a 503 with no healthy target, …) ÷ requests: never reached a replica */
  refusedRatio?: number
}

/** The estimator's options from a service's config: bounds default to initial ÷ 4 … × 4. */
export function learningOptions(
  c: LearnedCapacityConfig,
  targetUtilization: number,
): CapacityLearningOptions {
  const initial = c.initial ?? NaN
  return {
    initial,
    min: c.min ?? initial / 4,
    max: c.max ?? initial * 4,
    latencyTargetMs: c.latencyTargetMs,
    latencyMultiple: c.latencyMultiple,
    minWindows: c.minWindows,
    targetUtilization,
  }
}

/** Decisions keep the capacity they used while a new estimate is within this of it. */
const CAPACITY_HYSTERESIS = 0.05

export interface ServiceScaling {
  service: string
  mode: 'shadow' | 'enforce'
  actuator: string | null
  /** replicas running or starting (enforce), or the shadow count */
  current: number
  /** the newest decision's count */
  desired: number | null
  min: number
  max: number
  /** the capacity per replica the policy sizes with now (configured or learned), null: no policy */
  capacityPerReplica: number | null
  /** where it came from: configured, or learned (with the evidence behind it) */
  capacity: CapacityEvidence | null
  /** learned capacity evidence restored from the store at start: windows kept and when it was saved */
  capacityRestored: { windows: number; savedMs: number } | null
  /**
   * the stored windows replayed into the policy when this term began (windows replayed, the
   * first one's start, where the replay ended); null: none (a new service, a store error)
   */
  replayed: Replayed | null
  replicas: Replica[]
  /** newest first, with evidence */
  decisions: Decision[]
  lastError: string | null
  /**
   * this service's decision still in flight (its actuator booting a replica or retrying, a replay):
   * since when, and the windows skipped for it meanwhile (the other services' go on); null: none
   */
  inFlight: InFlight | null
}

/**
 * What a service's decision in flight is doing: `deciding` (reading its windows), `waiting to
 * replay` (its term's first decision, behind the other services' first decisions or another
 * service's replay), `replaying` (its stored windows into the policy), `scaling` (its actuator
 * call to `to` replicas: booting, retrying or waiting on the API).
 */
export interface InFlight {
  sinceMs: number
  skippedTicks: number
  doing: 'deciding' | 'waiting to replay' | 'replaying' | 'scaling'
  /** the count a `scaling` call asks for; null otherwise */
  to: number | null
}

const KEEP_DECISIONS = 50

/**
 * Stored windows replayed into a new term's policy at most (12 h of 10 s windows, about 1 s of
 * CPU at ~0.25 ms per decision of the selector's candidates); at least a stabilisation window,
 * at most the selector's memory
 */
const REPLAY_MAX_WINDOWS = 4_320
/** windows replayed between yields to the event loop (the gateway may share it) */
const REPLAY_SLICE = 50
/** how long a tick's replays wait at most for its other decisions (see `#lanes`) */
const REPLAY_WAIT_MS = 1_000

/** What a scale or restart through the actuator answers: its action in the log and how it went. */
export interface ActResult {
  id: string
  status: string
  /** why it failed */
  detail?: string
  /** the failure's error code (VGL_ERR_SCALE_ACTUATOR, VGL_ERR_SCALE_UNHEALTHY, ...) */
  code?: string
  /** what to do about the failure, for this service and actuator */
  fix?: string
}

/** What a term's replay of the stored windows gave the policy. */
export interface Replayed {
  windows: number
  /** of them, windows the store held no roll-up for but the control plane had closed: no requests */
  idle: number
  /** the start of the first window replayed and the end of the last one */
  fromMs: number
  toMs: number
  /** the start of the windows shown without a gap up to the term's first decision (the hold counts from it) */
  seenFromMs: number
  /**
   * how long reading the stored windows and replaying them took (wall clock, other work running
   * between its slices): how much later than a live decision this service's first one came
   */
  tookMs: number
}

/** A decision to go below a manual scale's count while it holds becomes one to that count. */
function holdManual(d: Decision, held: State['held']): Decision {
  if (held === null || d.atMs >= held.untilMs || d.desired >= held.count) return d
  const desired = held.count
  return {
    ...d,
    desired,
    direction: desired > d.current ? 'up' : desired < d.current ? 'down' : 'hold',
    driver: 'stabilization',
    reason: `held at ${desired} by a manual scale ("${held.reason}") until ${new Date(held.untilMs).toISOString()}; without it: ${d.reason}`,
  }
}
/**
 * The decision after a term's replay, on the window the scale-up made before it (`#early`)
 * already acted on, adds no more than what that left of the step limit: the window's two
 * decisions together add at most `maxStepUp`, as one would.
 */
function holdStep(d: Decision, early: State['early'], atMs: number, maxStepUp: number | undefined): Decision {
  if (early === null || early.atMs !== atMs || maxStepUp === undefined) return d
  const most = Math.max(d.current, early.before + maxStepUp)
  if (d.desired <= most) return d
  return {
    ...d,
    desired: most,
    direction: most > d.current ? 'up' : 'hold',
    driver: 'step',
    reason: `${most > d.current ? `scale up ${d.current} → ${most}` : `hold ${d.current}`}: bounded by the step limit (maxStepUp ${maxStepUp}), of which the scale-up before the replay took ${early.before} → ${d.current} in this window; without it: ${d.reason}`,
  }
}
/**
 * A decision to go below the replicas running when this term began becomes one to that count (or
 * to the current one, if lower) until the policy has seen a whole stabilisation window of demand:
 * its window holds only what it saw since, so "lower demand throughout the window" is not yet shown.
 */
function holdStartup(
  d: Decision,
  term: Term,
  seenUpToMs: number,
  stabilizationMs: number,
  max: number,
): Decision {
  if (term.fromMs === null || d.desired >= d.current) return d
  const seenMs = Math.max(0, seenUpToMs - term.fromMs)
  if (seenMs >= stabilizationMs) return d
  const floor = Math.min(d.current, term.count, max)
  if (d.desired >= floor) return d
  const stored = Math.max(0, term.liveMs - term.fromMs)
  return {
    ...d,
    desired: floor,
    direction: floor < d.current ? 'down' : 'hold',
    driver: 'stabilization',
    reason: `holding ${floor}: ${fmtMs(seenMs)} of ${fmtMs(stabilizationMs)} of demand seen ${stored > 0 ? `(${fmtMs(stored)} of it in the stored windows before) ` : ''}since this control plane started leading (a scale-down below the ${term.count} running then waits for a whole stabilisation window); without it: ${d.reason}`,
    evidence: { ...d.evidence, startup: { seenMs, neededMs: stabilizationMs, count: term.count } },
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A service's predictive policy, sizing with `capacityPerReplica`, before any decision. */
function policyFor(s: ScaleConfig, capacityPerReplica: number, windowMs: number): SelectingPolicy {
  return new SelectingPolicy({
    limits: limitsOf(s, capacityPerReplica),
    stabilizationMs: s.scaleDownStabilizationMs,
    startupMs: s.leadTimeMs,
    stepMs: windowMs,
    budget: s.headroomBudget,
  })
}

/** A service's bounds and sizing, with `capacityPerReplica` (configured or learned). */
function limitsOf(s: ScaleConfig, capacityPerReplica: number): ScalingLimits {
  return {
    min: s.min,
    max: s.max,
    capacityPerReplica,
    targetUtilization: s.targetUtilization,
    maxStepUp: s.maxStepUp,
    maxStepDown: s.maxStepDown,
  }
}

interface Learning {
  estimator: CapacityEstimator
  quantile: 'p95' | 'p99'
  /** the estimate the policy sizes with */
  used: CapacityEstimate
  newest: CapacityEstimate
  /** the newest window fed (each window once) */
  lastWindowMs: number
  /** what the replicas run (saved with the evidence) */
  replica: string
  /** when the evidence was last saved; the windows restored at start (null: none) */
  savedMs: number
  restored: { windows: number; savedMs: number } | null
  /** the ready replicas and since when they were seen unchanged; null: unknown or just acted */
  pool: { ready: number; sinceMs: number } | null
}

/** What a term as leader has seen of a service. */
interface Term {
  /**
   * the start of the windows the hold counts as seen: the first decided on in this term, or the
   * first stored window replayed without a gap up to it (null: none decided on yet)
   */
  fromMs: number | null
  /** the start of the first window decided on in this term */
  liveMs: number
  /** the replicas running at that decision */
  count: number
}

interface FailedDecision {
  rec: RecordedAction
  before: number
  after: number
  streak: FailureStreak
}

interface State {
  policy: SelectingPolicy | null
  learning: Learning | null
  current: number
  decisions: Decision[]
  failing: boolean
  lastError: string | null
  /** the autoscaler's decision that failed last, while no scale has worked since */
  failed: FailedDecision | null
  /**
   * actuator calls in flight: a count, since a manual scale or restart may act while the lane's
   * own act runs, and the first to end must not make the service look idle while the other acts
   */
  acting: number
  /** settles when `acting` is back to 0: an operator's call waits for it (see `#calm`) */
  calm: Promise<void>
  calmed: () => void
  /** a manual scale: the policy scales below it only after the stabilisation window */
  held: { count: number; untilMs: number; reason: string } | null
  /** the window the policy last decided on (its start) */
  decidedMs: number
  term: Term
  /** the stored windows replayed when this term began (null: none) */
  replayed: Replayed | null
  /** the window a scale-up made before this term's replay decided on (`#early`), the count before it */
  early: { atMs: number; before: number } | null
  /**
   * the rate decided on per window start, and when, for as long as the stabilisation window holds
   * it: a roll-up that lands after its window was decided on corrects the window, once
   */
  decided: Map<number, { rate: number; atMs: number }>
  /** this service's tick work in flight (its lane); a tick skips the service until it ends */
  lane: { done: Promise<void>; sinceMs: number; skippedTicks: number } | null
  /** what the lane is doing now (set from its first step, so before `lane` itself is) */
  doing: Pick<InFlight, 'doing' | 'to'>
  /** set while its lane holds other services' replays: called once its actuator call has started */
  onActing: (() => void) | null
}

export class Autoscaler {
  #o: AutoscalerOptions
  /** services a reload stopped scaling, while a lane of theirs is still in flight */
  readonly #retired = new Map<string, ScaleConfig>()
  readonly #state = new Map<string, State>()
  #timer: NodeJS.Timeout | null = null
  /** a tick's term work (restore, adopt, recount) before it starts the services' lanes */
  #opening: Promise<void> | null = null
  /** one replay at a time: they are CPU on the event loop, and in turn each ends as early as it can */
  readonly #replays = new KeyedQueue()
  #restoring: Promise<void> | null = null
  /** replicas left running by a previous leader were looked for since this process last led */
  #adopted = false
  /** this process leads (its term began: see {@link Term}) */
  #leads = false
  /** terms begun: a lane still replaying from an earlier term leaves the new term's replay to it */
  #terms = 0

  constructor(opts: AutoscalerOptions) {
    this.#o = opts
    for (const [name, s] of Object.entries(opts.services)) this.#state.set(name, this.#fresh(s))
  }

  /** A service's state before its first decision. */
  #fresh(s: ScaleConfig): State {
    const cap = s.capacityPerReplica
    let learning: Learning | null = null
    if (typeof cap === 'object') {
      const estimator = new CapacityEstimator(learningOptions(cap, s.targetUtilization))
      const first = estimator.estimate()
      learning = {
        estimator,
        quantile: cap.latencyQuantile,
        used: first,
        newest: first,
        lastWindowMs: -Infinity,
        pool: null,
        replica: replicaIdentity(s.actuator),
        savedMs: -Infinity,
        restored: null,
      }
    }
    const capacityPerReplica = typeof cap === 'object' ? learning!.used.perReplica : cap
    return {
      learning,
      policy: capacityPerReplica === undefined ? null : policyFor(s, capacityPerReplica, this.#o.windowMs),
      current: s.min,
      decisions: [],
      failing: false,
      lastError: null,
      failed: null,
      acting: 0,
      calm: Promise.resolve(),
      calmed: () => {},
      held: null,
      decidedMs: -Infinity,
      term: { fromMs: null, liveMs: 0, count: 0 },
      replayed: null,
      early: null,
      decided: new Map(),
      lane: null,
      doing: { doing: 'deciding', to: null },
      onActing: null,
    }
  }

  /** A service's scale block; one a reload removed while its lane was in flight, until that ends. */
  #scaleOf(name: string): ScaleConfig {
    return this.#o.services[name] ?? this.#retired.get(name)!
  }

  /**
   * Applies a reloaded config's scale blocks. A changed service keeps its replicas, its learned
   * capacity, its manual hold (within the new min..max) and its decisions; its policy is rebuilt
   * with the new settings and replays the service's stored windows before its next decision, as a
   * new leader's does, so its stabilisation window goes on from the demand already seen (a new
   * `max` below the replicas running scales down at that decision, through the actuator). An added
   * service starts being scaled (its `actuatorFor` must know it); a removed one stops, its replicas
   * left as they are. A service moved to enforce reads its count from its actuator first.
   */
  async reconfigure(
    services: Readonly<Record<string, ScaleConfig>>,
    actuatorFor: (service: string) => Actuator | null,
  ): Promise<{ added: string[]; removed: string[]; changed: string[] }> {
    const before = this.#o.services
    const added = Object.keys(services).filter((n) => before[n] === undefined)
    const removed = Object.keys(before).filter((n) => services[n] === undefined)
    const changed = Object.keys(services).filter(
      (n) => before[n] !== undefined && JSON.stringify(before[n]) !== JSON.stringify(services[n]),
    )
    for (const name of removed) {
      const st = this.#state.get(name)
      this.#retired.set(name, before[name])
      // no lane starts for it from now on; the one in flight ends on the old settings
      void Promise.resolve(st?.lane?.done).then(() => {
        if (this.#o.services[name] !== undefined) return
        this.#state.delete(name)
        this.#retired.delete(name)
      })
    }
    this.#o = { ...this.#o, services, actuatorFor }
    for (const name of added) {
      this.#retired.delete(name)
      this.#state.set(name, this.#fresh(services[name]))
    }
    for (const name of changed) {
      const s = services[name]
      const st = this.#state.get(name)!
      const old = before[name]
      const cap =
        typeof s.capacityPerReplica === 'number' ? s.capacityPerReplica : st.policy?.capacityPerReplica
      if (cap !== undefined) st.policy = policyFor(s, cap, this.#o.windowMs)
      // replayed from the store at its next decision, with the new settings (see #replay)
      st.term = { fromMs: null, liveMs: 0, count: 0 }
      st.replayed = null
      st.early = null
      if (st.held !== null) st.held.count = Math.min(s.max, Math.max(s.min, st.held.count))
      const a = actuatorFor(name)
      if (old.mode === 'shadow' && s.mode === 'enforce' && a !== null && st.acting === 0)
        st.current = await a.current(name).catch(() => st.current)
    }
    for (const name of added) {
      const a = actuatorFor(name)
      const st = this.#state.get(name)!
      if (a === null || services[name].mode === 'shadow') continue
      st.current = await a.current(name).catch(() => st.current)
    }
    return { added, removed, changed }
  }

  /** Reads the actuators' counts, brings enforced services to at least `min`, starts the timer. */
  async start(): Promise<void> {
    if (this.#o.leading?.() !== false) {
      this.#beginTerm()
      await this.#restore()
      await this.#adoptLeft()
    }
    for (const [name, s] of Object.entries(this.#o.services)) {
      const a = this.#o.actuatorFor(name)
      const st = this.#state.get(name)!
      if (a === null || s.mode === 'shadow') continue
      try {
        st.current = await a.current(name)
        await this.#toMin(name)
      } catch (err) {
        await this.#fail(name, err as Error, 1)
      }
    }
    this.#timer = setInterval(() => void this.tick(), this.#o.windowMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    await this.#opening
    // no actuator call may outlive the autoscaler: every lane in flight ends first
    for (const st of this.#state.values()) await st.lane?.done
    if (this.#restoring !== null && this.#o.leading?.() !== false)
      for (const name of this.#state.keys()) await this.#saveCapacity(name, true)
  }

  /**
   * Feeds each learning service's saved evidence to its estimator, once, when this process first
   * leads (a standby restores on election: what it reads is what the previous leader saved).
   */
  #restore(): Promise<void> {
    this.#restoring ??= (async () => {
      const store = this.#o.capacityState
      if (store === undefined || ![...this.#state.values()].some((st) => st.learning !== null)) return
      let saved: { service: string; data: unknown }[]
      try {
        saved = await store.load()
      } catch (err) {
        this.#o.onError?.(err as Error, 'learned capacity not restored: learning again from initial')
        return
      }
      const now = (this.#o.now ?? Date.now)()
      for (const { service, data } of saved) {
        const l = this.#state.get(service)?.learning
        if (l === undefined || l === null) continue
        const windows = usableWindows(data, l.quantile, l.replica)
        if (typeof windows === 'string') {
          this.#o.onError?.(
            new Error(`${service}: saved capacity evidence discarded (${windows})`),
            'restore',
          )
          continue
        }
        const since = now - l.estimator.memoryMs
        let fed = 0
        for (const w of windows)
          if (w.atMs >= since && w.atMs > l.lastWindowMs) {
            l.estimator.observe(w)
            l.lastWindowMs = w.atMs
            fed++
          }
        l.restored = { windows: fed, savedMs: (data as SavedCapacity).savedMs }
        l.newest = l.used = l.estimator.estimate()
        this.#state.get(service)!.policy?.setCapacity(l.used.perReplica)
      }
    })()
    return this.#restoring
  }

  /**
   * Once per term as leader: asks each actuator that can for the replicas a previous instance left
   * running, counts the adopted ones (no duplicate is started to reach `min`), and records what was
   * adopted or stopped in the action log. A service not enforced gets its left-behind replicas
   * stopped: in shadow mode nothing here runs replicas.
   */
  async #adoptLeft(): Promise<void> {
    if (this.#adopted) return
    this.#adopted = true
    for (const [name, s] of Object.entries(this.#o.services)) {
      const a = this.#o.actuatorFor(name)
      if (a?.adopt === undefined) continue
      const st = this.#state.get(name)!
      try {
        const r = await a.adopt(name, s.mode === 'enforce')
        if (r.adopted.length === 0 && r.stopped.length === 0) continue
        if (s.mode === 'enforce' && st.acting === 0) st.current = r.after
        const parts = [
          ...(r.adopted.length > 0
            ? [`adopted ${r.adopted.length} (${r.adopted.map((x) => x.id).join(', ')})`]
            : []),
          ...(r.stopped.length > 0
            ? [`stopped ${r.stopped.length} (${r.stopped.map((x) => `${x.id}: ${x.reason}`).join('; ')})`]
            : []),
        ]
        const rec = await this.#o.record({
          kind: 'scale.adopt',
          policy: 'adopt',
          mode: 'enforce',
          target: `service:${name}`,
          before: r.before,
          after: r.after,
          reason: `replicas left running by a control plane that ended without stopping them: ${parts.join('; ')}`,
          evidence: { actuator: a.kind, adopted: r.adopted.map((x) => x.id), stopped: r.stopped },
        })
        await this.#o.settle(rec, { status: 'ok' })
      } catch (err) {
        this.#o.onError?.(err as Error, `autoscale ${name}: replicas left running not adopted`)
      }
    }
  }

  /** Saves a learning service's evidence when due (or now); a failed save is logged, not fatal. */
  async #saveCapacity(name: string, now = false): Promise<void> {
    const store = this.#o.capacityState
    const l = this.#state.get(name)?.learning
    if (store === undefined || l === undefined || l === null) return
    const at = (this.#o.now ?? Date.now)()
    if (!now && at - l.savedMs < (this.#o.saveCapacityEveryMs ?? 60_000)) return
    l.savedMs = at
    const windows = l.estimator
      .held()
      .map((w): SavedCapacity['windows'][number] => [
        w.atMs,
        w.perReplica,
        w.latencyMs,
        w.errorRatio,
        w.requests,
      ])
    await store
      .save(name, { version: 1, quantile: l.quantile, replica: l.replica, savedMs: at, windows })
      .catch((err: Error) => this.#o.onError?.(err, `learned capacity of ${name} not saved`))
  }

  /**
   * A new term (a start while leading, an election): what the policy saw before is not evidence
   * that the demand stayed low throughout its stabilisation window (it saw nothing while standing
   * by), so a scale-down below the replicas running waits for a window of evidence: the stored
   * windows replayed at the term's first decision ({@link #replay}), else a window of its own.
   */
  #beginTerm(): void {
    if (this.#leads) return
    this.#leads = true
    this.#terms++
    for (const st of this.#state.values()) {
      st.term = { fromMs: null, liveMs: 0, count: 0 }
      st.replayed = null
      st.early = null
    }
  }

  /**
   * At a term's first decision (on the window starting at `liveMs`): a new policy replays the
   * service's stored windows before it, so its stabilisation window and its candidates' records
   * go on from the demand its predecessor saw. A replay only decides: nothing is recorded or
   * applied, no decision is kept, `current` stays what the actuator reports (every replayed
   * decision is asked with it: with what it reported before the term's early scale-up, if one was
   * made on this window, so the replay gives the policy what it would have without it). A window
   * the store has no roll-up for had no requests once the control plane closed it (`closed`); one
   * it has not closed is a gap, and the hold counts from after it. Replayed without a forecast: the forecast bank keeps only its newest fit, whose
   * points lie ahead of the replayed windows, and refitting per window would cost a fit per
   * window; the forecast candidates are judged on live decisions from the first one on.
   * Returns the start of the windows shown without a gap (null: nothing stored, nothing replayed).
   */
  async #replay(
    name: string,
    st: State,
    liveMs: number,
    closed: number,
    now: number,
  ): Promise<number | null> {
    const history = this.#o.history
    const s = this.#scaleOf(name)
    if (history === undefined || st.policy === null) return null
    const began = performance.now()
    const current = st.early?.atMs === liveMs ? st.early.before : st.current
    const W = this.#o.windowMs
    const windows = Math.ceil(
      Math.max(s.scaleDownStabilizationMs, Math.min(REPLAY_MAX_WINDOWS * W, st.policy.memoryMs)) / W,
    )
    const fromMs = liveMs - windows * W
    let stored: Observation[]
    try {
      stored = await history(name, fromMs, liveMs)
    } catch (err) {
      this.#o.onError?.(
        err as Error,
        `autoscale ${name}: stored windows not read; scale-downs below the replicas running wait for a stabilisation window of live windows`,
      )
      return null
    }
    stored = stored
      .filter((w) => w.atMs >= fromMs && w.atMs < liveMs && Number.isFinite(w.ratePerSec))
      .sort((a, b) => a.atMs - b.atMs)
    if (stored.length === 0) return null
    const policy = policyFor(s, st.policy.capacityPerReplica, W)
    // each replayed window is decided on as late after its start as the live one is now
    const lag = Math.max(W, now - liveMs)
    const r: Replayed = {
      windows: 0,
      idle: 0,
      fromMs: stored[0].atMs,
      toMs: liveMs,
      seenFromMs: stored[0].atMs,
      tookMs: 0,
    }
    let i = 0
    for (let t = stored[0].atMs; t < liveMs; t += W) {
      while (i < stored.length && stored[i].atMs < t) i++
      let rate: number
      if (i < stored.length && stored[i].atMs < t + W) rate = Math.max(0, stored[i].ratePerSec)
      else if (t + W <= closed) {
        rate = 0
        r.idle++
      } else {
        r.seenFromMs = t + W
        continue
      }
      policy.decide({ atMs: t + lag, observed: rate, current, forecast: null })
      if (t + lag > now - s.scaleDownStabilizationMs) st.decided.set(t, { rate, atMs: t + lag })
      if (++r.windows % REPLAY_SLICE === 0) await new Promise((done) => setImmediate(done))
    }
    st.policy = policy
    r.tookMs = Math.round(performance.now() - began)
    st.replayed = r
    return r.seenFromMs
  }

  /**
   * At a term's first decision: an operator's manual scale a predecessor applied within the
   * stabilisation window still holds scale-downs until that window after it ends (its hold lived
   * in the predecessor's memory; without it the replayed windows would undo the operator's count
   * at once). A newer hold of this process's own is kept.
   */
  async #restoreManual(name: string, st: State, now: number): Promise<void> {
    const s = this.#scaleOf(name)
    if (this.#o.lastManual === undefined || s.scaleDownStabilizationMs <= 0) return
    try {
      const m = await this.#o.lastManual(name, now - s.scaleDownStabilizationMs)
      if (m === null) return
      const untilMs = m.atMs + s.scaleDownStabilizationMs
      if (untilMs <= now || (st.held !== null && st.held.untilMs >= untilMs)) return
      st.held = { count: Math.min(s.max, Math.max(s.min, m.count)), untilMs, reason: m.reason }
    } catch (err) {
      this.#o.onError?.(
        err as Error,
        `autoscale ${name}: the last manual scale not read; its hold is not restored`,
      )
    }
  }

  /** Reads each enforced service's count from its actuator again. */
  async #recount(): Promise<void> {
    for (const [name, s] of Object.entries(this.#o.services)) {
      const a = this.#o.actuatorFor(name)
      const st = this.#state.get(name)!
      // a lane still in flight owns the count: it reads it once its actuator call ends
      if (a === null || s.mode === 'shadow' || st.acting > 0 || st.lane !== null) continue
      st.current = await a.current(name).catch(() => st.current)
    }
  }

  /**
   * A window already decided on came back with more requests (a roll-up that missed the grace: a
   * late gateway, one redelivered after a failover): its need joins the stabilisation window as of
   * the decision that counted it, so a scale-down waits for it; counted once per increase.
   */
  #correct(st: State, obs: Observation, now: number, stabilizationMs: number): void {
    if (st.policy === null || obs.atMs <= now - stabilizationMs - this.#o.windowMs) return
    const was = st.decided.get(obs.atMs)
    if (was !== undefined && obs.ratePerSec <= was.rate) return
    // never decided on (ticks that missed it): as if decided when it ended
    const atMs = was?.atMs ?? obs.atMs + this.#o.windowMs
    st.decided.set(obs.atMs, { rate: obs.ratePerSec, atMs })
    st.policy.remember(atMs, obs.ratePerSec)
  }

  /**
   * One decision per service, each in its own lane: a service whose previous tick's work is still
   * in flight (its actuator booting a replica, retrying with backoff, a hung API call, a replay)
   * is skipped, and the others decide and act meanwhile. Resolves once the work this tick started
   * ends; a tick while another one's term work (restore, adopt, recount) runs is skipped.
   */
  tick(): Promise<void> {
    if (this.#opening !== null) return this.#opening
    let lanes: Promise<void> = Promise.resolve()
    this.#opening = this.#open()
      .then(() => void (lanes = this.#lanes()))
      .finally(() => (this.#opening = null))
    return this.#opening.then(() => lanes)
  }

  /** A tick's term work, before any service decides. */
  async #open(): Promise<void> {
    // a standby restores once it leads, before its first decision (which needs a window of load),
    // and takes over what a killed leader on its host left running before it starts any replica
    if (this.#o.leading?.() !== false) {
      const elected = !this.#leads
      this.#beginTerm()
      await this.#restore()
      await this.#adoptLeft()
      // a standby read the counts when it started: the previous leader has scaled since
      if (elected) await this.#recount()
    } else this.#adopted = this.#leads = false
  }

  /**
   * Starts a lane for each service not in flight. A service's first decision in a term replays
   * its stored windows first (about a second of CPU for 12 h of 10 s windows), so replays start
   * once every lane started here has made the decision it can make without one (the scale-up the
   * observed load alone asks for, the others' whole decision) or has started its actuator call:
   * a spike waits for no replay, and a slow actuator holds no replay up.
   */
  #lanes(): Promise<void> {
    const now = (this.#o.now ?? Date.now)()
    const free = Object.keys(this.#o.services).filter((name) => {
      const lane = this.#state.get(name)!.lane
      if (lane !== null) lane.skippedTicks++
      return lane === null
    })
    const early = this.#leads && this.#o.history !== undefined
    const released: Promise<void>[] = []
    const releases = free.map((): (() => void) => {
      let release = () => {}
      released.push(new Promise<void>((r) => (release = r)))
      return release
    })
    // at most a second: an actuator read that hangs until its timeout must not hold the replays
    const gate = new Promise<void>((done) => {
      const timer = setTimeout(done, REPLAY_WAIT_MS)
      timer.unref()
      void Promise.all(released).then(() => {
        clearTimeout(timer)
        done()
      })
    })
    const lanes = free.map(async (name, i) => {
      const st = this.#state.get(name)!
      const release = releases[i]
      const step = async (work: () => Promise<void>) => {
        try {
          if (!st.failing) await this.#toMin(name)
          await work()
        } catch (err) {
          this.#o.onError?.(err as Error, `autoscale ${name}`)
        }
      }
      st.onActing = release
      st.doing = { doing: 'deciding', to: null }
      try {
        if (st.policy !== null && st.term.fromMs === null) {
          if (early) await step(() => this.#early(name))
          release()
          st.doing = { doing: 'waiting to replay', to: null }
          await gate
          st.doing = { doing: 'deciding', to: null }
        }
        await step(() => this.#decide(name))
      } finally {
        st.onActing = null
        release()
      }
    })
    for (const [i, name] of free.entries()) {
      const st = this.#state.get(name)!
      // settled either way: a throwing onError rejects the tick's promise, not stop() nor the process
      const done = lanes[i].then(
        () => {},
        () => {},
      )
      st.lane = { done, sinceMs: now, skippedTicks: 0 }
      void done.then(() => (st.lane = null))
    }
    return Promise.all(lanes).then(() => {})
  }

  /**
   * Brings an enforced service up to `min`, whatever the load (the policy decides only on an
   * observed window, and a service without a capacity has none). Not while standing by: a control
   * plane that is not yet (or no longer) the leader must not act, and does so once it leads.
   */
  async #toMin(name: string): Promise<void> {
    const s = this.#scaleOf(name)
    const st = this.#state.get(name)!
    if (s.mode === 'shadow' || st.acting > 0 || st.current >= s.min || this.#o.actuatorFor(name) === null)
      return
    if (this.#o.leading?.() === false) return
    await this.#act(name, st.current, s.min, `below min ${s.min} (${st.current} running)`, 'scale.replicas', {
      min: s.min,
      running: st.current,
    })
  }

  /**
   * The newest window of the service to decide on: the newest observed one, or a later one the
   * control plane closed without a roll-up. An observed one already decided on that came back
   * with more requests is corrected first.
   */
  async #newest(name: string, st: State): Promise<{ closed: number; obs: Observation | null; now: number }> {
    const closed = (await this.#o.closedUpTo?.().catch(() => -Infinity)) ?? -Infinity
    let obs = await this.#o.observe(name)
    const now = (this.#o.now ?? Date.now)()
    if (obs !== null && obs.atMs <= st.decidedMs)
      this.#correct(st, obs, now, this.#scaleOf(name).scaleDownStabilizationMs)
    // a window without requests sends no roll-up: once the control plane closed it, it is a
    // zero-rate window (else an idle service would keep its count, deciding nothing, forever)
    const silent = Math.floor(closed / this.#o.windowMs) * this.#o.windowMs - this.#o.windowMs
    if (Number.isFinite(silent) && silent > (obs?.atMs ?? -Infinity))
      obs = { atMs: silent, ratePerSec: 0, requests: 0 }
    return { closed, obs, now }
  }

  /**
   * Before a term's first decision, which replays the stored windows first: the scale-up the
   * observed load alone asks for, from the replicas running (the HPA-shaped rule the policy is
   * floored at, so at most `maxStepUp` and within the 10 % tolerance), made at once and recorded
   * as the decision's own would be, so a spike waits for neither this service's replay nor any
   * other's. Nothing else is decided here (no scale-down, no forecast): the decision after the
   * replay follows on the same window, and no later decision asks for less while the window's
   * load is in its stabilisation window.
   */
  async #early(name: string): Promise<void> {
    const s = this.#scaleOf(name)
    const st = this.#state.get(name)!
    if (st.policy === null || st.acting > 0 || st.failing || st.term.fromMs !== null) return
    const { obs, now } = await this.#newest(name, st)
    if (obs === null || obs.atMs <= st.decidedMs) return
    const d = hpaShaped(limitsOf(s, st.policy.capacityPerReplica)).decide({
      atMs: now,
      observed: obs.ratePerSec,
      current: st.current,
    })
    if (d.direction !== 'up') return
    d.reason += '; at once, before the stored windows are replayed (this control plane just started leading)'
    d.evidence.candidate = 'HPA-shaped'
    st.early = { atMs: obs.atMs, before: st.current }
    await this.#apply(name, st, d)
  }

  async #decide(name: string): Promise<void> {
    const s = this.#scaleOf(name)
    const st = this.#state.get(name)!
    if (st.policy === null || st.acting > 0) return
    const a = this.#o.actuatorFor(name)
    if (s.mode === 'enforce' && a !== null) {
      // the count the actuator reports, not the one last asked for: a replica that exited on its
      // own (or a container removed by hand) is replaced at this window instead of never
      try {
        st.current = await a.current(name)
      } catch (err) {
        // while the actuator fails, what it last reported is all that is known: decide on no guess
        if (st.failing) {
          st.lastError = (err as Error).message
          return
        }
      }
    }
    const { closed, obs, now } = await this.#newest(name, st)
    // one decision per window, as the simulator makes one per row: a tick that finds the window it
    // decided on still the newest (a timer out of phase with the windows, windows held back after
    // a failover) would count its load twice in every candidate's replay and stabilisation window
    if (obs === null || obs.atMs <= st.decidedMs) return
    if (st.term.fromMs === null) {
      const term = this.#terms
      st.doing = { doing: 'waiting to replay', to: null }
      const seenFromMs = await this.#replays.run('replay', () => {
        st.doing = { doing: 'replaying', to: null }
        return this.#replay(name, st, obs.atMs, closed, now)
      })
      st.doing = { doing: 'deciding', to: null }
      // leadership was lost and won again meanwhile: the new term's first decision replays anew
      if (term !== this.#terms) return
      st.term = { fromMs: seenFromMs ?? obs.atMs, liveMs: obs.atMs, count: st.current }
      await this.#restoreManual(name, st, now)
    }
    const policy = st.policy
    st.decidedMs = obs.atMs
    st.decided.set(obs.atMs, { rate: obs.ratePerSec, atMs: now })
    for (const [at, w] of st.decided) if (w.atMs <= now - s.scaleDownStabilizationMs) st.decided.delete(at)
    if (st.learning !== null) {
      await this.#restore()
      await this.#learn(name, policy, st.learning, obs, now)
      await this.#saveCapacity(name)
    }
    // the windows a decision now is responsible for: those starting before replicas asked for now
    // serve, plus the one starting then (the next decision's replicas serve a window later); as
    // many as the simulator's lead rows, so a window starting exactly at the horizon belongs to the
    // next decision
    const horizon = now + s.leadTimeMs + this.#o.windowMs
    let fc = await this.#o.forecast(name).catch(() => null)
    const first = fc?.points[0]?.atMs
    const last = fc?.points.at(-1)?.atMs
    // the newest forecast was fitted up to a refit interval ago: when its points end before the
    // windows this decision is responsible for, the peak would miss the end of the lead time
    if (first !== undefined && last !== undefined && last + this.#o.windowMs < horizon) {
      const windows = Math.ceil((horizon - first) / this.#o.windowMs)
      fc = await this.#o.forecast(name, windows).catch(() => fc)
    }
    let peak: PeakForecast | null = null
    if (fc !== null) {
      const ahead = fc.points.filter((p) => p.atMs > now - this.#o.windowMs && p.atMs < horizon)
      if (ahead.length > 0)
        peak = {
          point: Math.max(...ahead.map((p) => p.forecast)),
          upper: Math.max(...ahead.map((p) => p.upper)),
          model: fc.model,
          level: fc.level,
        }
    }
    const d = holdStartup(
      holdManual(
        holdStep(
          policy.decide({ atMs: now, observed: obs.ratePerSec, current: st.current, forecast: peak }),
          st.early,
          obs.atMs,
          s.maxStepUp,
        ),
        st.held,
      ),
      st.term,
      obs.atMs + this.#o.windowMs,
      s.scaleDownStabilizationMs,
      s.max,
    )
    if (peak !== null) d.evidence.aheadMs = horizon - now
    await this.#apply(name, st, d)
  }

  /** Shows a decision and, when it changes the count, records it and (mode enforce) applies it. */
  async #apply(name: string, st: State, d: Decision): Promise<void> {
    const s = this.#scaleOf(name)
    const capacity = this.#capacityEvidence(st)
    if (capacity !== null) d.evidence.capacity = capacity
    if (st.learning !== null) d.reason += `; ${capacityClause(capacity, st.learning)}`
    st.decisions.unshift(d)
    st.decisions.length = Math.min(st.decisions.length, KEEP_DECISIONS)
    if (d.desired === st.current) return
    const enforce = s.mode === 'enforce' && this.#o.actuatorFor(name) !== null
    if (!enforce) {
      await this.#o.record({
        kind: 'scale.replicas',
        policy: 'autoscale',
        mode: 'shadow',
        target: `service:${name}`,
        before: st.current,
        after: d.desired,
        reason: d.reason,
        evidence: d.evidence,
      })
      st.current = d.desired
      return
    }
    await this.#act(name, st.current, d.desired, d.reason, 'scale.replicas', d.evidence)
  }

  /**
   * Feeds the window to the estimator when the pool held the same ready replicas throughout it,
   * then sizes with the new estimate when it moved more than the hysteresis.
   */
  async #learn(name: string, policy: SelectingPolicy, l: Learning, obs: Observation, now: number) {
    const ready = await this.#ready(name)
    if (ready === null || ready <= 0) l.pool = null
    else if (l.pool === null || l.pool.ready !== ready) l.pool = { ready, sinceMs: now }
    const latency = l.quantile === 'p99' ? obs.p99 : obs.p95
    if (
      l.pool !== null &&
      obs.atMs > l.lastWindowMs &&
      obs.atMs >= l.pool.sinceMs &&
      latency !== null &&
      latency !== undefined
    ) {
      l.lastWindowMs = obs.atMs
      l.estimator.observe({
        atMs: obs.atMs,
        perReplica: (obs.ratePerSec * (1 - (obs.refusedRatio ?? 0))) / l.pool.ready,
        latencyMs: latency,
        errorRatio: obs.errorRatio ?? 0,
        requests: obs.requests ?? 0,
      })
    }
    const e = l.estimator.estimate()
    l.newest = e
    const usedNow = policy.capacityPerReplica
    if (e.learned !== l.used.learned || Math.abs(e.perReplica / usedNow - 1) > CAPACITY_HYSTERESIS) {
      l.used = e
      policy.setCapacity(e.perReplica)
    }
  }

  /** Ready replicas serving the service now, or null when unknown. */
  async #ready(name: string): Promise<number | null> {
    const s = this.#scaleOf(name)
    const a = this.#o.actuatorFor(name)
    if (a !== null) {
      const ready = (await a.replicas(name).catch(() => null))?.filter((r) => r.ready).length ?? null
      // shadow with an actuator that started nothing: the configured targets serve
      if (ready === null || ready > 0 || s.mode === 'enforce') return ready
    }
    return this.#o.configuredTargets?.(name) ?? null
  }

  #capacityEvidence(st: State): CapacityEvidence | null {
    if (st.policy === null) return null
    const l = st.learning
    if (l === null)
      return {
        perReplica: st.policy.capacityPerReplica,
        source: 'configured',
        learned: false,
        windows: null,
        estimate: null,
        baselineMs: null,
        targetMs: null,
        highestGood: null,
        lowestBad: null,
        bounded: null,
      }
    const n = l.newest
    return {
      perReplica: st.policy.capacityPerReplica,
      source: l.used.source,
      learned: l.used.learned,
      windows: n.windows,
      estimate: n.perReplica,
      baselineMs: n.baselineMs,
      targetMs: n.targetMs,
      highestGood: n.highestGood,
      lowestBad: n.lowestBad,
      bounded: n.bounded,
    }
  }

  /** Records, applies with retries, settles; keeps `current` to what the actuator reports. */
  async #act(
    name: string,
    before: number,
    after: number,
    reason: string,
    kind: ScaleActionInput['kind'],
    evidence: unknown,
  ): Promise<ActResult> {
    const a = this.#o.actuatorFor(name)!
    const st = this.#state.get(name)!
    // counted from before the record is written: a decision meanwhile would act on the old count
    if (st.acting++ === 0) st.calm = new Promise<void>((r) => (st.calmed = r))
    const was = st.doing
    st.doing = { doing: 'scaling', to: after }
    try {
      // the autoscaler asking again for what failed is a retry, not a new scaling event; an
      // operator's request always is one
      const again =
        kind === 'scale.replicas' && st.failed?.before === before && st.failed.after === after
          ? st.failed
          : null
      // recorded again under its id all the same: the fence is checked before each try
      const rec = await this.#o.record({
        ...(again !== null ? { id: again.rec.id } : {}),
        kind,
        policy: kind === 'scale.replicas' ? 'autoscale' : 'admin',
        mode: 'enforce',
        target: `service:${name}`,
        before,
        after,
        reason,
        evidence,
      })
      // the pool changes: windows from now until the next look at it are not clean evidence
      if (st.learning !== null) st.learning.pool = null
      const attempts = this.#o.attempts ?? 3
      let last: Error | null = null
      let tries = 0
      for (let i = 0; i < attempts; i++) {
        tries++
        try {
          const call = kind === 'scale.restart' ? a.restart(name, reason) : a.scaleTo(name, after, reason)
          // the call has started: other services' replays need not wait for it to end
          st.onActing?.()
          await call
          last = null
          break
        } catch (err) {
          last = err as Error
          // a replica that never became healthy will not become healthy by asking again at once
          if ((err as { code?: string }).code === 'VGL_ERR_SCALE_UNHEALTHY' || i === attempts - 1) break
          await sleep((this.#o.backoffMs ?? 1_000) * 2 ** i)
        }
      }
      st.current = await a.current(name).catch(() => st.current)
      if (last !== null) {
        const now = (this.#o.now ?? Date.now)()
        const streak: FailureStreak = again?.streak ?? {
          failures: 0,
          calls: 0,
          firstMs: now,
          lastMs: now,
          lastError: '',
        }
        streak.failures++
        streak.calls += tries
        streak.lastMs = now
        streak.lastError = last.message
        if (kind === 'scale.replicas') st.failed = { rec, before, after, streak }
        const detail =
          streak.failures === 1
            ? last.message
            : `failed ${streak.failures} times since ${new Date(streak.firstMs).toISOString()} (last: ${last.message})`
        await this.#o.settle(rec, { status: 'failed', detail, data: { ...streak } })
        await this.#fail(name, last, tries)
        const code = (last as { code?: unknown }).code
        return {
          id: rec.id,
          status: 'failed',
          detail: last.message,
          ...(typeof code === 'string' ? { code } : {}),
          fix: failureFix(name, a.kind, last, tries),
        }
      }
      if (st.failing)
        await this.#alert(name, 'scale.recovered', `actuator ${a.kind} works again`, { actuator: a.kind })
      st.failing = false
      st.lastError = null
      st.failed = null
      if (again !== null)
        await this.#o.settle(rec, {
          status: 'ok',
          detail: `ok after failing ${again.streak.failures} time${again.streak.failures === 1 ? '' : 's'} since ${new Date(again.streak.firstMs).toISOString()} (last: ${again.streak.lastError})`,
          data: { ...again.streak },
        })
      else await this.#o.settle(rec, { status: 'ok' })
      return { id: rec.id, status: 'ok' }
    } finally {
      if (--st.acting === 0) st.calmed()
      st.doing = was
    }
  }

  async #fail(name: string, err: Error, tries: number): Promise<void> {
    const st = this.#state.get(name)!
    st.lastError = err.message
    // logged and alerted once per failure streak, not once per window
    if (st.failing) return
    st.failing = true
    this.#o.onFailure?.(name, err)
    const code = (err as { code?: string }).code ?? null
    const what =
      code === 'VGL_ERR_SCALE_UNHEALTHY'
        ? 'a new replica never became healthy and was rolled back (stopped, never pooled)'
        : `the actuator failed ${tries} time${tries === 1 ? '' : 's'} (retried with backoff)`
    const actuator = this.#o.actuatorFor(name)?.kind ?? null
    await this.#alert(name, 'scale.alert', `${what}: ${err.message}`, {
      actuator,
      code,
      error: err.message,
      tries,
    })
  }

  /** An alert in the action log (the dashboard's activity, GET /api/actions?kind=scale.alert). */
  async #alert(name: string, kind: 'scale.alert' | 'scale.recovered', reason: string, evidence: unknown) {
    const st = this.#state.get(name)!
    try {
      const rec = await this.#o.record({
        kind,
        policy: 'autoscale',
        mode: 'enforce',
        target: `service:${name}`,
        before: st.current,
        after: st.current,
        reason,
        evidence,
      })
      await this.#o.settle(rec, { status: 'ok' })
    } catch (err) {
      this.#o.onError?.(err as Error, `autoscale ${name}: ${kind} not recorded`)
    }
  }

  /** A service the autoscaler does not scale, with the ones it does and how to add one. */
  #unknown(name: string): VigilError {
    const scaled = Object.keys(this.#o.services)
    const list = scaled.join(', ') || 'none'
    return withFix(
      VGL_ERR_SCALE_UNKNOWN_SERVICE(name, 'configured', list),
      `use a scaled service (${list}; GET /api/scaling lists them)` +
        `, or give services.${name} a scale: block with an actuator in vigil.yaml (docs/autoscaling.md) and reload the config (SIGHUP or POST /api/config/reload)`,
    )
  }

  /**
   * A scaled service with no actuator (a `mode: shadow` block without one): it has a `scale:`
   * block, so "not scaled" and "add a scale: block" would contradict what the operator sees.
   */
  #noActuator(name: string, s: ScaleConfig): VigilError {
    const byHand = Object.keys(this.#o.services).filter((n) => this.#o.actuatorFor(n) !== null)
    const list = byHand.join(', ') || 'none'
    return withFix(
      new VigilError(
        VGL_ERR_SCALE_UNKNOWN_SERVICE.code,
        `service "${name}" has no actuator to scale or restart it: services.${name}.scale (mode: ${s.mode}) ` +
          `names no actuator, so its decisions are only recorded (services with an actuator: ${list})`,
        VGL_ERR_SCALE_UNKNOWN_SERVICE.statusCode,
      ),
      `give services.${name}.scale an actuator (kind: process, docker or kubernetes) in vigil.yaml and restart Vigil ` +
        `(docs/config.md#servicesnamescale-autoscaling); with mode: shadow the autoscaler still only records its ` +
        `decisions, and manual scales and restarts act`,
    )
  }

  #checked(name: string): { s: ScaleConfig; a: Actuator } {
    const s = this.#o.services[name]
    if (s === undefined) throw this.#unknown(name)
    const a = this.#o.actuatorFor(name)
    if (a === null) throw this.#noActuator(name, s)
    return { s, a }
  }

  /** Manual scale (admin API): within min..max, through the actuator, recorded. */
  async scale(
    name: string,
    replicas: number,
    reason: string,
  ): Promise<ActResult & { before: number; after: number }> {
    const { s } = this.#checked(name)
    if (!Number.isInteger(replicas) || replicas < s.min || replicas > s.max)
      throw VGL_ERR_SCALE_REQUEST(
        `replicas: expected a whole number from ${s.min} to ${s.max} (scale.min..scale.max), got ${replicas}`,
      )
    const st = this.#state.get(name)!
    // the actuator runs one call per service at a time: a scale-up still booting ends first, so
    // the record starts from the count it leaves (else "2 → 2" for what went 4 → 2)
    await this.#calm(st)
    const before = st.current
    const r = await this.#act(name, before, replicas, withReason('manual', reason), 'scale.manual', {
      requested: replicas,
    })
    // an operator's count is a need like the load's: a scale-down below it waits the window out
    // (else the next window's decision would undo it at once)
    if (r.status === 'ok')
      st.held = {
        count: replicas,
        untilMs: (this.#o.now ?? Date.now)() + s.scaleDownStabilizationMs,
        reason: reason.trim() || 'no reason given',
      }
    return { ...r, before, after: st.current }
  }

  /** Until no actuator call of the service is in flight. */
  async #calm(st: State): Promise<void> {
    while (st.acting > 0) await st.calm
  }

  /** Rolling restart (admin API), recorded. */
  async restart(name: string, reason: string): Promise<ActResult> {
    this.#checked(name)
    const st = this.#state.get(name)!
    await this.#calm(st)
    return this.#act(name, st.current, st.current, withReason('restart', reason), 'scale.restart', null)
  }

  /** What `GET /api/services/:name/scaling` answers. */
  async scaling(name: string): Promise<ServiceScaling> {
    const s = this.#o.services[name]
    if (s === undefined) throw this.#unknown(name)
    const st = this.#state.get(name)!
    const a = this.#o.actuatorFor(name)
    return {
      service: name,
      mode: s.mode,
      actuator: a?.kind ?? null,
      current: st.current,
      desired: st.decisions[0]?.desired ?? null,
      min: s.min,
      max: s.max,
      capacityPerReplica: st.policy?.capacityPerReplica ?? null,
      capacity: this.#capacityEvidence(st),
      capacityRestored: st.learning?.restored ?? null,
      replayed: st.replayed,
      replicas: a !== null ? await a.replicas(name).catch(() => []) : [],
      decisions: st.decisions.slice(0, 20),
      lastError: st.lastError,
      inFlight:
        st.lane === null
          ? null
          : { sinceMs: st.lane.sinceMs, skippedTicks: st.lane.skippedTicks, ...st.doing },
    }
  }
}

const fmtCap = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2))

/** The capacity part of a learning service's reason. */
function capacityClause(c: CapacityEvidence | null, l: Learning): string {
  if (c === null) return ''
  const windows = `${c.windows} window${c.windows === 1 ? '' : 's'}`
  if (!c.learned)
    return c.source === 'initial'
      ? `capacity: initial ${fmtCap(c.perReplica)} req/s per replica until enough evidence (${windows} of ${l.estimator.minWindows})`
      : `capacity: initial ${fmtCap(c.perReplica)} req/s per replica kept (no saturation seen in ${windows})`
  const what =
    c.source === 'knee'
      ? `latency or errors rise past ${fmtCap(c.perReplica)} req/s per replica`
      : c.source === 'missed'
        ? `the latency objective is missed even at ${fmtCap(c.lowestBad ?? c.perReplica)} req/s per replica`
        : `no saturation seen up to ${fmtCap(c.highestGood ?? c.perReplica)} req/s per replica`
  return `capacity learned from ${windows}: ${what}${c.bounded !== null ? ` (held at the ${c.bounded} bound)` : ''}`
}

/** An operator's action as the action log says it; the reason is optional, as on every admin route. */
function withReason(what: string, reason: string): string {
  return reason.trim() === '' ? `${what} (no reason given)` : `${what}: ${reason.trim()}`
}

/**
 * What to do about a failed scale or restart: the fix the actuator made for its own failure (the
 * command, the socket, the health check), then what Vigil already did about it.
 */
function failureFix(name: string, actuator: string, err: Error, tries: number): string {
  const own = (err as { fix?: unknown }).fix
  const code = (err as { code?: unknown }).code
  const what =
    typeof own === 'string'
      ? own
      : `read the cause in detail and check the ${actuator} actuator of services.${name}.scale (docs/autoscaling.md)`
  const done =
    code === 'VGL_ERR_SCALE_UNHEALTHY'
      ? 'not retried at once (a replica that never became healthy would not by asking again)'
      : `Vigil tried ${tries} time${tries === 1 ? '' : 's'} with backoff`
  return `${what}; ${done}, the autoscaler tries again at its next decision, and this request can be sent again once it is fixed`
}
