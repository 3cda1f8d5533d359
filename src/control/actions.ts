/**
 * @module The action log: one record for everything the control plane does, or in shadow mode
 * would have done (an alert sent, a limit changed, a service scaled), with time, policy, mode,
 * target, before, after, reason, evidence, result, the leader's fencing token and an id. Records go
 * to the store (fenced: a deposed leader's record is refused, so it must not act), to
 * `actions.jsonl` once final, and to the admin API (`GET /api/actions`).
 *
 * ```
 * policy ──act(input, apply)──▶ record: leadership.token() + store.appendActions (fenced)
 *                                 │ refused (not leader / fenced) ─▶ throws, nothing applied
 *                                 ▼ enforce                        ▼ shadow
 *                               apply() ─▶ settle ok|failed       final as recorded (status shadow)
 *                                 └────────────▶ actions.jsonl (one line per action, when final)
 * ```
 *
 * Use it from any policy in the control plane:
 * @example
 * const rec = await actions.act(
 *   { kind: 'limits.multiplier', policy: 'forecast-pressure', mode: 'enforce', target: 'service:orders',
 *     before: { STD: 1 }, after: { STD: 0.5 }, reason: 'forecast upper band 1,240 rps > budget 1,000 rps',
 *     evidence: { forecast: 1240, budget: 1000, horizonMs: 300_000 } },
 *   async () => limiter.setControls({ tiers: { STD: 0.5 } }),
 * )
 * // rec.result.status: 'ok' | 'failed' (enforce) or 'shadow'
 */
import { appendFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { randomUUID } from 'node:crypto'
import type { ActionMode, ActionQuery, ActionRecord, ActionResult, ActionStatus } from '../store/index.js'
import { VGL_ERR_CONTROL_QUERY, withFix } from '../errors.js'
import type { Leadership } from './leadership.js'

export type { ActionMode, ActionQuery, ActionRecord, ActionResult, ActionStatus }

/** What a policy decides; the log adds id, time, result and fencing token. */
export interface ActionInput {
  /** dotted: `alert.firing`, `alert.resolved`, `limits.multiplier`, `scale.replicas` */
  kind: string
  /** the rule or policy name */
  policy: string
  mode: ActionMode
  /** what it acts on: a series key, `service:orders`, `client:acme` */
  target: string
  before?: unknown
  after?: unknown
  /** one sentence a person reads: what was seen and what is done about it */
  reason: string
  /** the numbers behind the reason: observed, expected, band, detector, links */
  evidence?: unknown
  /** default now */
  atMs?: number
  /** default a random UUID; a deterministic id makes a retried decision idempotent */
  id?: string
}

/** The outcome of an enforced action, as `settle` takes it. */
export interface SettleResult {
  status: 'ok' | 'failed'
  detail?: string
  data?: unknown
}

/** The part of the Store port the action log uses. */
export interface ActionStore {
  appendActions(actions: readonly ActionRecord[]): Promise<void>
  settleAction(id: string, result: ActionResult): Promise<boolean>
  queryActions(q?: ActionQuery): Promise<ActionRecord[]>
}

/** One page of the action log, newest first; pass `nextCursor` back as `cursor` for the next. */
export interface ActionPage {
  actions: ActionRecord[]
  nextCursor: string | null
}

/** A query plus the `cursor` of the previous page. */
export type ActionPageQuery = ActionQuery & { cursor?: string }

/** What `GET /api/actions` asks; implemented by ActionLog and the embedded worker's client. */
export interface ActionSource {
  actions(q: ActionPageQuery): Promise<ActionPage>
}

export interface ActionLogOptions {
  store: ActionStore
  leadership: Leadership
  /** `actions.jsonl`: one line per action once final; null: no file */
  file?: string | null
  now?: () => number
  onError?: (err: Error, what: string) => void
}

/** `cursor` ↔ the record a page ended on (opaque to clients: base64url JSON). */
export function encodeCursor(r: { atMs: number; id: string }): string {
  return Buffer.from(JSON.stringify([r.atMs, r.id])).toString('base64url')
}

/** The error of a cursor this API did not issue (edited, cut short, or from another route). */
export function unknownCursor(cursor: string) {
  return withFix(
    VGL_ERR_CONTROL_QUERY(`cursor: "${cursor.slice(0, 40)}" is not a nextCursor of this API`),
    'send the nextCursor of the previous page exactly as it came, or leave cursor out for the first page',
  )
}

/** null when the cursor is not one this API issued. */
export function decodeCursor(cursor: string): { atMs: number; id: string } | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
    if (Array.isArray(v) && v.length === 2 && Number.isFinite(v[0]) && typeof v[1] === 'string')
      return { atMs: v[0] as number, id: v[1] }
  } catch {
    // not ours
  }
  return null
}

export class ActionLog implements ActionSource {
  readonly #o: ActionLogOptions & { now: () => number }
  #fileReady: Promise<void> | null = null
  readonly #watchers: ((rec: ActionRecord) => void)[] = []
  #writing: Promise<void> = Promise.resolve()
  /** counters for tests and /metrics: recorded by kind/mode, settled by status, refused */
  readonly stats = { recorded: 0, refused: 0, settled: { ok: 0, failed: 0 }, fileErrors: 0 }

  constructor(opts: ActionLogOptions) {
    this.#o = { ...opts, now: opts.now ?? Date.now }
  }

  /**
   * Records a decision with this leader's fencing token. Enforce: status `pending`, apply it and
   * then `settle`. Shadow: status `shadow`, final. Throws VGL_ERR_CONTROL_NOT_LEADER or
   * VGL_ERR_STORE_FENCED when this process must not act (then do not apply), or the store's error.
   */
  async record(input: ActionInput): Promise<ActionRecord> {
    let token: number
    try {
      token = this.#o.leadership.token()
    } catch (err) {
      this.stats.refused++
      throw err
    }
    const rec: ActionRecord = {
      id: input.id ?? randomUUID(),
      atMs: input.atMs ?? this.#o.now(),
      kind: input.kind,
      policy: input.policy,
      mode: input.mode,
      target: input.target,
      before: input.before ?? null,
      after: input.after ?? null,
      reason: input.reason,
      evidence: input.evidence ?? null,
      result: input.mode === 'shadow' ? { status: 'shadow' } : { status: 'pending' },
      fencingToken: token,
    }
    try {
      await this.#o.store.appendActions([rec])
    } catch (err) {
      if ((err as { code?: string }).code === 'VGL_ERR_STORE_FENCED') this.stats.refused++
      throw err
    }
    this.stats.recorded++
    if (rec.mode === 'shadow') this.#append(rec)
    return rec
  }

  /**
   * Sets the outcome of an enforced action (not fenced: it reports what did happen). Settled again
   * (a failing decision retried at later windows), the record's result is replaced and
   * `actions.jsonl` gets another line with the same id: the file keeps every attempt.
   */
  async settle(rec: ActionRecord, result: SettleResult): Promise<ActionRecord> {
    const settled: ActionRecord = { ...rec, result: { ...result, atMs: this.#o.now() } }
    this.stats.settled[result.status]++
    try {
      await this.#o.store.settleAction(rec.id, settled.result)
    } finally {
      this.#append(settled)
    }
    return settled
  }

  /**
   * Records, then (enforce only) applies and settles: `ok` when `apply` resolves, `failed` with
   * its message when it throws (the error is not rethrown: the outcome is in the record). Throws
   * only when the record was refused, and then `apply` was never called.
   */
  async act(input: ActionInput, apply: (rec: ActionRecord) => Promise<unknown>): Promise<ActionRecord> {
    const rec = await this.record(input)
    if (rec.mode === 'shadow') return rec
    let outcome: { status: 'ok' | 'failed'; detail?: string }
    try {
      await apply(rec)
      outcome = { status: 'ok' }
    } catch (err) {
      outcome = { status: 'failed', detail: (err as Error).message }
    }
    return this.settle(rec, outcome).catch((err: Error) => {
      this.#o.onError?.(err, `settle action ${rec.id}`)
      return { ...rec, result: { ...outcome, atMs: this.#o.now() } }
    })
  }

  /** A page of the log, newest first (`cursor` from the previous page's `nextCursor`). */
  async actions(q: ActionPageQuery): Promise<ActionPage> {
    const limit = q.limit ?? 100
    const { cursor, ...rest } = q
    let after = q.after
    if (cursor !== undefined) {
      const c = decodeCursor(cursor)
      if (c === null) throw unknownCursor(cursor)
      after = c
    }
    const actions = await this.#o.store.queryActions({ ...rest, limit, after })
    const last = actions[actions.length - 1]
    return { actions, nextCursor: actions.length === limit && last !== undefined ? encodeCursor(last) : null }
  }

  /** Calls `fn` with each record once final (shadow when recorded, enforce when settled), in this process. */
  watch(fn: (rec: ActionRecord) => void): void {
    this.#watchers.push(fn)
  }

  /** Resolves once every final record so far is in `actions.jsonl`. */
  flush(): Promise<void> {
    return this.#writing
  }

  #append(rec: ActionRecord): void {
    for (const fn of this.#watchers)
      try {
        fn(rec)
      } catch (err) {
        this.#o.onError?.(err as Error, `action watcher (${rec.kind})`)
      }
    const file = this.#o.file
    if (file === null || file === undefined) return
    this.#fileReady ??= mkdir(dirname(file), { recursive: true }).then(() => {})
    const line = `${JSON.stringify(rec)}\n`
    this.#writing = this.#writing
      .then(() => this.#fileReady)
      .then(() => appendFile(file, line, { mode: 0o600 }))
      .catch((err: Error) => {
        // counted each time, reported once: a full disk must not flood the log
        if (this.stats.fileErrors++ === 0) this.#o.onError?.(err, `actions file ${file}`)
      })
  }
}
