/**
 * @module The Store port: where rollups, spans and events are kept. Two adapters implement it
 * (`SqliteStore` embedded, `PostgresStore` scaled out) and both pass `storeContract`.
 *
 * Levels of rollup data, all keyed so that writes are idempotent:
 *
 * ```
 * rollups_raw    (gateway_id, service, route, env, window_start)  one row per gateway rollup
 *      │ writeWindow: merged exactly (counters summed, DDSketches merged)
 *      ▼
 * series_window  (service, route, env, window_start)   route level, plus rolled-up levels:
 *                  {service, '*', env} and {'*', '*', '*'} (global)
 *      │ downsample: after the minute / hour has closed (and again for any late correction)
 *      ▼
 * series_1m, series_1h   same key, bucket_start
 * ```
 */
import type { Rollup, SpanRecord } from '../telemetry/types.js'
import type { SeriesKey } from '../telemetry/recorder.js'

export type { Rollup, SpanRecord, SeriesKey }

/** The marker for a rolled-up key part: `{service, '*', env}` and `{'*', '*', '*'}`. */
export const ALL = '*'

/** Resolution of stored points: the merged window, or the 1 minute / 1 hour downsampled tables. */
export type Resolution = 'window' | '1m' | '1h'

/** One merged point of one series (route, service or global level). */
export interface StoredPoint {
  series: SeriesKey
  startMs: number
  durationMs: number
  /** how many gateway rollups were merged into this point */
  sources: number
  count: number
  /** index 0 = 1xx ... 4 = 5xx */
  statusClass: [number, number, number, number, number]
  limited: number
  /** requests the gateway answered by itself, never sent upstream (see `Rollup.refused`) */
  refused: number
  /** of `refused`, the 5xx answers (the gateway's own 503s) */
  refused5xx: number
  timeouts: number
  connectErrors: number
  bytesIn: number
  bytesOut: number
  latencySketch: Uint8Array
}

/** The counter columns a rollup and a stored point share (rows carry them, merges add them up). */
export type PointCounters = Pick<
  StoredPoint,
  | 'count'
  | 'statusClass'
  | 'limited'
  | 'refused'
  | 'refused5xx'
  | 'timeouts'
  | 'connectErrors'
  | 'bytesIn'
  | 'bytesOut'
  | 'latencySketch'
>

export interface SeriesInfo {
  series: SeriesKey
  firstSeenMs: number
  lastSeenMs: number
}

/** An audit/timeline event: config changes, limit changes, later alerts and scaling actions. */
export interface StoredEvent {
  /** assigned by the store */
  id?: number
  atMs: number
  kind: string
  actor: string
  subject: string
  payload: unknown
}

/** How an action was taken: `enforce` acts; `shadow` only records what it would have done. */
export type ActionMode = 'shadow' | 'enforce'

/**
 * `pending`: recorded, being applied (or delivered); `ok` / `failed`: its outcome; `shadow`: a
 * would-have-done record, nothing applied.
 */
export type ActionStatus = 'pending' | 'ok' | 'failed' | 'shadow'

export interface ActionResult {
  status: ActionStatus
  /** what happened, for people: `delivered to webhook, slack`, `HTTP 503 from the actuator` */
  detail?: string
  /** when the outcome was known, ms since the epoch */
  atMs?: number
  /** structured outcome, e.g. per-sink delivery results */
  data?: unknown
}

/**
 * One decision of the control plane (an alert sent, a limit changed, a service scaled), with its
 * evidence. The store keeps it only if `fencingToken` is the current fence (see `advanceFence`).
 */
export interface ActionRecord {
  /** unique, chosen by the writer so a retried write never duplicates */
  id: string
  atMs: number
  /** dotted: `alert.firing`, `alert.resolved`, `limits.multiplier`, `scale.replicas` */
  kind: string
  /** the rule or policy that decided */
  policy: string
  mode: ActionMode
  /** what it acts on: a series key, `service:orders`, `client:acme` */
  target: string
  before: unknown
  after: unknown
  reason: string
  evidence: unknown
  result: ActionResult
  /** the leader's fencing token when it decided */
  fencingToken: number
}

export interface ActionQuery {
  mode?: ActionMode
  policy?: string
  target?: string
  kind?: string
  /** atMs in [fromMs, toMs) */
  fromMs?: number
  toMs?: number
  /** newest first; default 100 */
  limit?: number
  /** continue after this record (exclusive), in newest-first order */
  after?: { atMs: number; id: string }
}

/** One entry of fenced control-plane state (alert lifecycle, policy hysteresis), JSON data. */
export interface ControlStateEntry {
  key: string
  /** null deletes the entry (putControlState) */
  data: unknown
  updatedMs?: number
}

/** An Alertmanager-style label matcher: `name = value`, `!=`, `=~` (regex, anchored), `!~`. */
export interface SilenceMatcher {
  name: string
  value: string
  isRegex: boolean
  isEqual: boolean
}

/** A silence: alerts whose labels match every matcher are not sent while it is active. */
export interface StoredSilence {
  id: string
  matchers: SilenceMatcher[]
  startsAtMs: number
  endsAtMs: number
  createdBy: string
  comment: string
  createdAtMs: number
}

/** An acknowledgement of one firing alert (its fingerprint and the start of that firing). */
export interface StoredAlertAck {
  fingerprint: string
  startsAtMs: number
  by: string
  comment: string
  atMs: number
}

/**
 * One admin change (an audit event, src/audit.ts) as stored: who changed what, from what to what,
 * and why. `id` is chosen by the writer, so a redelivered event is stored once.
 */
export interface StoredAuditEvent {
  id: string
  atMs: number
  /** dotted: `limits.tier.update`, `limits.key.revoke`, `limits.controls.set` */
  kind: string
  actor: string
  subject: string
  before: unknown
  after: unknown
  reason: string
}

export interface AuditQuery {
  actor?: string
  /** exact, or a prefix ending in `*` (`limits.key.*`) */
  kind?: string
  /** atMs in [fromMs, toMs) */
  fromMs?: number
  toMs?: number
  /** newest first; default 100 */
  limit?: number
  /** continue after this event (exclusive), in newest-first order */
  after?: { atMs: number; id: string }
}

export interface EventQuery {
  fromMs?: number
  toMs?: number
  kind?: string
  /** newest first; default 100 */
  limit?: number
}

/** How long each table keeps its rows. */
export interface RetentionMs {
  raw: number
  window: number
  minute: number
  hour: number
  spans: number
  events: number
  /** events of kind `forecast` (live forecasts kept to compare with what happened) */
  forecasts: number
  /** the action log, and silences / acknowledgements that ended this long ago */
  actions: number
  /** service-graph windows (journeys) */
  graph: number
}

export const DEFAULT_RETENTION_MS: RetentionMs = Object.freeze({
  raw: 6 * 3_600_000,
  window: 2 * 86_400_000,
  minute: 14 * 86_400_000,
  hour: 400 * 86_400_000,
  spans: 2 * 86_400_000,
  events: 400 * 86_400_000,
  forecasts: 14 * 86_400_000,
  actions: 400 * 86_400_000,
  graph: 14 * 86_400_000,
})

export interface PruneResult {
  raw: number
  window: number
  minute: number
  hour: number
  spans: number
  events: number
  forecasts: number
  actions: number
  graph: number
}

/** A search for traces: those with a span matching every given criterion, newest first. */
export interface TraceQuery {
  /** span start in [fromMs, toMs) */
  fromMs: number
  toMs: number
  service?: string
  env?: string
  /** the gateway route (its spans carry it) */
  route?: string
  /**
   * error: a span that failed by the trace's reading (error status or a 5xx; in a trace the
   * client abandoned, a 5xx only); ok: a span with neither error status nor a 5xx
   */
  status?: 'error' | 'ok'
  /** the matching span's duration, ms */
  minDurationMs?: number
  maxDurationMs?: number
  limit: number
}

/** One trace found by a search. */
export interface TraceListItem {
  traceId: string
  startMs: number
  durationMs: number
  spanCount: number
  /** spans that failed by the trace's reading (in a trace the client abandoned: those answered with a 5xx) */
  errorCount: number
  /** the client closed its connection before the answer (the gateway answered 499) */
  abandoned: boolean
  /** the gateway route, when the gateway's span is stored */
  route: string | null
  requestId: string | null
  /** service and span name of the earliest root (`vigil` for the gateway's span) */
  rootService: string | null
  rootName: string | null
  /** distinct services (`vigil` for the gateway) and envs */
  services: string[]
  envs: string[]
}

/**
 * How the caller reads one trace's spans: whether the client abandoned the trace, and which of its
 * spans failed. This is the journeys' rule (`readTrace` in journeys/, the one the trace's waterfall
 * follows), passed in because store/ does not import journeys/.
 */
export type TraceReader = (spans: readonly SpanRecord[]) => {
  abandoned: boolean
  failed(s: Pick<SpanRecord, 'statusCode' | 'httpStatus'>): boolean
}

/**
 * One node or edge of the service graph in one window. `from` is '' for a node row (the requests
 * node `to` served); an edge row counts the calls `from` made to `to`. Nodes are `service|env`.
 */
export interface StoredGraphRow {
  windowStartMs: number
  windowMs: number
  from: string
  to: string
  calls: number
  errors: number
  latencySketch: Uint8Array
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres'
  /**
   * Upserts gateway rollups (a redelivered rollup replaces itself, never adds) and, in the same
   * transaction, re-derives the merged route-level, `{service, env}` and global points of every
   * series and window touched. Resolves to those merged points once committed.
   */
  writeWindow(rollups: readonly Rollup[]): Promise<StoredPoint[]>
  /**
   * Recomputes the 1 min and 1 h points whose bucket ended before `nowMs - graceMs` and whose
   * inputs changed since they were last computed. Resolves to the number of points written.
   */
  downsample(nowMs: number, graceMs: number): Promise<number>
  listSeries(): Promise<SeriesInfo[]>
  /** Merged points of one series with startMs in [fromMs, toMs), oldest first. */
  queryPoints(series: SeriesKey, fromMs: number, toMs: number, resolution: Resolution): Promise<StoredPoint[]>
  /** The raw gateway rollups of one series in [fromMs, toMs) (for audits and tests). */
  queryRaw(series: SeriesKey, fromMs: number, toMs: number): Promise<Rollup[]>
  /** Inserts spans; a span already stored (same trace and span id) is left as it is. */
  writeSpans(spans: readonly SpanRecord[]): Promise<void>
  spansByTrace(traceId: string): Promise<SpanRecord[]>
  /** The spans of the trace that the request with this `X-Request-Id` belongs to. */
  spansByRequestId(requestId: string): Promise<SpanRecord[]>
  /**
   * Traces with a span matching the query, newest first, summarized; `read` says which spans of a
   * trace failed (for `errorCount`, `abandoned` and the `error` filter).
   */
  searchTraces(q: TraceQuery, read: TraceReader): Promise<TraceListItem[]>
  /** Upserts service-graph rows (a row of the same window, from and to replaces the stored one). */
  writeGraphRows(rows: readonly StoredGraphRow[]): Promise<void>
  /** Graph rows of the windows starting in [fromMs, toMs), oldest first. */
  queryGraphRows(fromMs: number, toMs: number): Promise<StoredGraphRow[]>
  appendEvents(events: readonly StoredEvent[]): Promise<void>
  queryEvents(q?: EventQuery): Promise<StoredEvent[]>
  /** Inserts audit events; an id already stored is left as it is. Kept by `retention.events`. */
  appendAudit(events: readonly StoredAuditEvent[]): Promise<void>
  /** Audit events newest first (atMs, then id, descending). */
  queryAudit(q?: AuditQuery): Promise<StoredAuditEvent[]>
  /**
   * Fencing: raises the store's fence by one and resolves to the new value, the fencing token of
   * a control plane that has just become leader. From then on, writes that carry an older token
   * (a deposed leader that has not noticed yet) are refused with VGL_ERR_STORE_FENCED.
   */
  advanceFence(): Promise<number>
  /**
   * Appends actions in one transaction, if every one carries the current fencing token; else
   * refuses all of them with VGL_ERR_STORE_FENCED. An id already stored is left as it is.
   */
  appendActions(actions: readonly ActionRecord[]): Promise<void>
  /** Sets the outcome of a stored action; false when no action has that id. Not fenced: it reports what happened. */
  settleAction(id: string, result: ActionResult): Promise<boolean>
  /** Actions newest first (atMs, then id, descending). */
  queryActions(q?: ActionQuery): Promise<ActionRecord[]>
  /** Upserts (or, with data null, deletes) entries of one scope, fenced like appendActions. */
  putControlState(scope: string, entries: readonly ControlStateEntry[], fencingToken: number): Promise<void>
  getControlState(scope: string): Promise<ControlStateEntry[]>
  /** Inserts or replaces a silence (by id). */
  putSilence(s: StoredSilence): Promise<void>
  /** false when there was no silence with that id */
  deleteSilence(id: string): Promise<boolean>
  /** Silences ending at or after `activeAtMs` (all when absent), newest first. */
  listSilences(activeAtMs?: number): Promise<StoredSilence[]>
  /** Inserts or replaces the acknowledgement of one firing. */
  putAlertAck(a: StoredAlertAck): Promise<void>
  /** Acknowledgements made at or after `sinceMs` (all when absent). */
  listAlertAcks(sinceMs?: number): Promise<StoredAlertAck[]>
  /** Deletes rows older than each table's retention. */
  prune(nowMs: number, retention: RetentionMs): Promise<PruneResult>
  close(): Promise<void>
}
