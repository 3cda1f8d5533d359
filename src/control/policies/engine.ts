/**
 * @module The policy engine: feeds signals (forecasts, anomalies) to the adaptive-limit
 * policies, evaluates them on every signal and every `tickMs`, and carries out their decisions:
 * in `enforce` mode through the limiter's audited `setControls` (actor `control:<policy>`, reason
 * = the evidence), in `shadow` mode not at all. Every decision, applied, shadowed or failed, is
 * one action in the action log. Only the leader evaluates and acts; the others keep observing, so
 * a new leader starts from current signals.
 */
import type { ControlsPatch } from '../../limits/index.js'
import {
  Reconciler,
  type LimitPolicy,
  type PolicyDecision,
  type PolicyMode,
  type PolicySignal,
} from './policy.js'

/** Where decisions take effect: the limiter's controls, the same path as an admin change. */
export interface LimitControls {
  setControls(patch: ControlsPatch, meta: { actor: string; reason: string }): Promise<unknown>
}

/** A decision as the action log takes it (src/control/actions.ts `ActionInput`). */
export interface PolicyActionInput {
  /** `limits.apply`, `limits.tighten`, `limits.relax`, `limits.renew`, `limits.release` */
  kind: string
  policy: string
  mode: PolicyMode
  target: string
  before: unknown
  after: unknown
  reason: string
  evidence: unknown
  atMs: number
}

/**
 * The action log: records the decision (fenced: throws when this process must not act), then,
 * in enforce mode, runs `apply` and records its outcome (`ok` or `failed`); shadow records only.
 */
export interface PolicyActionLog {
  act(
    input: PolicyActionInput,
    apply: () => Promise<unknown>,
  ): Promise<{ result: { status: string; detail?: string } }>
}

/** Who may act (src/control/leadership.ts). Without one, this engine is the only control plane. */
export interface PolicyLeadership {
  readonly leading: boolean
}

export interface PolicyEngineOptions {
  policies: readonly LimitPolicy[]
  /** null: no limiter reachable from here; enforced decisions are recorded as failed */
  controls: LimitControls | null
  actions: PolicyActionLog
  leadership?: PolicyLeadership
  tickMs?: number
  now?: () => number
  /** a failed enforce is tried again after this long; default 5 s */
  retryMs?: number
  onError?: (err: Error, what: string) => void
}

const SOLE: PolicyLeadership = { leading: true }

export class PolicyEngine {
  readonly #o: PolicyEngineOptions
  readonly #now: () => number
  readonly #leader: PolicyLeadership
  readonly #runners: { policy: LimitPolicy; rec: Reconciler }[]
  #wasLeader = false
  #timer: NodeJS.Timeout | null = null
  #running: Promise<void> | null = null
  #again = false
  readonly stats = { decisions: 0, applied: 0, shadow: 0, failed: 0, refused: 0 }

  constructor(opts: PolicyEngineOptions) {
    this.#o = opts
    this.#now = opts.now ?? Date.now
    this.#leader = opts.leadership ?? SOLE
    this.#runners = opts.policies.map((policy) => ({
      policy,
      rec: new Reconciler(policy, { retryMs: opts.retryMs ?? 5_000 }),
    }))
  }

  get policies(): readonly LimitPolicy[] {
    return this.#runners.map((r) => r.policy)
  }

  /**
   * True while an enforcing policy's entries tighten `service`'s limits (defensive mode, tier or
   * class multipliers on it; `*`: on any service). Client-targeted entries do not count: those
   * refusals answer one client's own behaviour.
   */
  tightens(service: string): boolean {
    for (const { policy, rec } of this.#runners) {
      if (policy.mode !== 'enforce') continue
      for (const { target } of rec.inForce())
        if (target.startsWith('service:') && (service === '*' || target === `service:${service}`)) return true
    }
    return false
  }

  /** Hands a signal to every policy and evaluates them soon. */
  signal(s: PolicySignal): void {
    const now = this.#now()
    for (const { policy } of this.#runners) {
      try {
        policy.observe(s, now)
      } catch (err) {
        this.#o.onError?.(err as Error, `policy ${policy.name}`)
      }
    }
    void this.run()
  }

  start(): void {
    if (this.#timer !== null) return
    this.#timer = setInterval(() => void this.run(), this.#o.tickMs ?? 1_000)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    while (this.#running !== null) await this.#running
  }

  /** Evaluates every policy now and carries out what they decide; runs are serial. */
  run(): Promise<void> {
    if (this.#running !== null) {
      this.#again = true
      return this.#running
    }
    this.#running = (async () => {
      do {
        this.#again = false
        await this.#runOnce()
      } while (this.#again)
    })().finally(() => (this.#running = null))
    return this.#running
  }

  async #runOnce(): Promise<void> {
    if (!this.#leader.leading) {
      this.#wasLeader = false
      return
    }
    if (!this.#wasLeader) {
      // what an earlier term applied is not ours to know: re-apply what the policies want
      for (const r of this.#runners) r.rec.reset()
      this.#wasLeader = true
    }
    for (const { policy, rec } of this.#runners) {
      let decisions: PolicyDecision[]
      try {
        const now = this.#now()
        decisions = rec.plan(policy.evaluate(now), now)
      } catch (err) {
        this.#o.onError?.(err as Error, `policy ${policy.name}`)
        continue
      }
      for (const d of decisions) if (!(await this.#carryOut(d, rec))) return
    }
  }

  /** false when the action log refused the decision: this process must not act now. */
  async #carryOut(d: PolicyDecision, rec: Reconciler): Promise<boolean> {
    this.stats.decisions++
    const controls = this.#o.controls
    const { patch, state, ...rest } = d
    const input: PolicyActionInput = {
      kind: `limits.${d.action}`,
      policy: d.policy,
      mode: d.mode,
      target: d.target,
      before: rest.before,
      after: rest.after,
      reason: d.reason,
      evidence: { ...d.evidence, state, patch },
      atMs: d.atMs,
    }
    let outcome: { result: { status: string; detail?: string } }
    try {
      outcome = await this.#o.actions.act(input, async () => {
        if (controls === null) throw new Error('no limiter to apply it to (limits.enabled is false here)')
        await controls.setControls(patch, { actor: `control:${d.policy}`, reason: d.reason })
      })
    } catch (err) {
      // not the leader (any more), or fenced by a newer one: nothing was applied
      this.stats.refused++
      this.#o.onError?.(err as Error, `action of ${d.policy} not recorded`)
      return false
    }
    const status = outcome.result.status
    if (status === 'failed') {
      rec.fail(d, this.#now())
      this.stats.failed++
    } else {
      rec.confirm(d, this.#now())
      if (status === 'shadow') this.stats.shadow++
      else this.stats.applied++
    }
    return true
  }
}
