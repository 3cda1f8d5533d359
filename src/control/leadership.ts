/**
 * @module Who may act. Exactly one control plane acts at a time (sends alerts, changes limits,
 * scales); it holds a lease and a **fencing token**, a number the store raises each time a new
 * leader takes over (`Store.advanceFence`). Every action and every piece of fenced state is
 * written with the token, and the store refuses a token older than its fence, so a leader that was
 * paused (GC, SIGSTOP, a partition) and lost its lease cannot act after its successor started.
 *
 * ```
 * lease (NATS KV, renewed) ──elected──▶ store.advanceFence() = token ──▶ act: record(token) then apply
 *                            ──lost────▶ stop acting (and the store refuses the old token anyway)
 * ```
 *
 * Embedded mode has one control plane: `soleLeadership` leads from the start.
 */
import { VGL_ERR_CONTROL_NOT_LEADER } from '../errors.js'

/** What a process knows of the current leader (its own lease, or the lease value it read). */
export interface LeaderInfo {
  /** `host:pid:random` of the leading process */
  holder: string
  /** the leader's control admin API, when it serves one */
  adminUrl: string | null
  /** when it became leader, ms since the epoch */
  sinceMs: number
  /** its fencing token (null until it has one) */
  fencingToken: number | null
}

/**
 * The leadership a control plane consults before it acts.
 * @example
 * const token = leadership.token()      // throws VGL_ERR_CONTROL_NOT_LEADER on a follower
 * await actions.record({ ... })         // the action log does this for you
 */
export interface Leadership {
  /** true while this process leads, judged by its own clock against the lease deadline */
  readonly leading: boolean
  /** the fencing token while leading; throws VGL_ERR_CONTROL_NOT_LEADER otherwise */
  token(): number
  /** the current leader as far as this process knows; null when nobody leads */
  leader(): LeaderInfo | null
}

/** A leadership set from outside: the lease campaign (`NatsLease`) or the sole embedded plane. */
export class FencedLeadership implements Leadership {
  #token: number | null = null
  #info: LeaderInfo | null = null
  #valid: () => boolean

  /** `valid` is the lease's own deadline check (always true for a sole leader). */
  constructor(valid: () => boolean = () => true) {
    this.#valid = valid
  }

  get leading(): boolean {
    return this.#token !== null && this.#valid()
  }

  token(): number {
    if (this.#token === null || !this.#valid())
      throw VGL_ERR_CONTROL_NOT_LEADER(describeLeader(this.#token === null ? this.#info : null))
    return this.#token
  }

  leader(): LeaderInfo | null {
    return this.#info
  }

  /** This process leads with `token`. */
  lead(token: number, info: LeaderInfo): void {
    this.#token = token
    this.#info = { ...info, fencingToken: token }
  }

  /** This process no longer leads; `other` is who does, when known. */
  follow(other: LeaderInfo | null): void {
    this.#token = null
    this.#info = other
  }
}

/** "the leader is X (admin API at U)" or "no control plane leads now", for error messages. */
export function describeLeader(info: LeaderInfo | null): string {
  if (info === null) return 'no control plane leads now; one takes over within the lease time'
  return `the leader is ${info.holder}${info.adminUrl !== null ? ` (admin API at ${info.adminUrl})` : ''}`
}

/** The reason a leader gives its lease up on a graceful stop: a hand-over, not a loss. */
export const STOPPING = 'stopping'

/** Where a change of leadership is logged (pino's shape). */
export interface LeadershipLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

/**
 * Logs a change of leadership. Gaining it is routine (info). Losing it (the lease not renewed in
 * time, or taken by another) is a warning: this process stops acting, and until another one wins
 * the lease nobody alerts, adapts limits or scales. Giving it up on a graceful stop is routine.
 * @example
 * onLeadership: (leading, leader, reason) => logLeadership(logger, leading, leader, reason)
 */
export function logLeadership(
  log: LeadershipLogger,
  leading: boolean,
  leader: LeaderInfo | null,
  reason: string,
): void {
  const fields = { leading, leader, reason }
  if (leading) log.info(fields, 'leading: this control plane acts')
  else if (reason === STOPPING)
    log.info(fields, 'following: this control plane stopped and gave up the leader lease')
  else
    log.warn(
      fields,
      `lost the leader lease (${reason}): this control plane stops acting; another instance or none is leader`,
    )
}

/**
 * Embedded mode (and a `vigil control` without NATS): the only control plane leads from the start,
 * with a fresh fencing token from the store, so a second process on the same store fences this one.
 */
export async function soleLeadership(
  store: { advanceFence(): Promise<number> },
  holder: string,
): Promise<FencedLeadership> {
  const l = new FencedLeadership()
  l.lead(await store.advanceFence(), { holder, adminUrl: null, sinceMs: Date.now(), fencingToken: null })
  return l
}
