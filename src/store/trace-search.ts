/**
 * @module Trace search and service-graph rows, SQL shared by both adapters (placeholders differ:
 * `?` in SQLite, `$n` in PostgreSQL).
 *
 * A search walks spans newest first through an index on `start_ms` (or `(service, start_ms)`,
 * `(env, start_ms)`, the partial error index) and stops once it has `limit` distinct traces, so a
 * search over a busy hour reads a few hundred index entries, not the hour.
 *
 * Whether a trace failed is the caller's reading of its spans (a {@link TraceReader}: in a trace
 * the client abandoned, the spans it cut off are no errors). The error filter therefore finds
 * candidates through the error index as before and re-checks each matching span against its
 * trace's reading; the traces of a page are read a few at a time, as many as the list still needs,
 * so a list without abandoned traces reads its spans in one query, as the other filters do.
 */
import type { SpanRecord } from '../telemetry/types.js'
import type { StoredGraphRow, TraceListItem, TraceQuery, TraceReader } from './store.js'

/** The SQL predicate of a failed span (error status or 5xx); the partial index uses the same text. */
export const ERROR_SPAN = '(status_code = 2 OR http_status >= 500)'

/** A search gives up after this many pages of matching spans. */
const MAX_PAGES = 50
/** The error filter reads the traces of its candidates at least this many at a time. */
const MIN_READ_AHEAD = 16

/** One page of matching spans, newest first: `SELECT trace_id, start_ms, ... LIMIT`. */
export function searchPageSql(
  q: TraceQuery,
  beforeMs: number,
  pageSize: number,
  ph: (i: number) => string,
): { sql: string; args: unknown[] } {
  const where: string[] = []
  const args: unknown[] = []
  const add = (sql: string, v: unknown) => {
    args.push(v)
    where.push(sql.replace('?', ph(args.length)))
  }
  add('start_ms >= ?', q.fromMs)
  add('start_ms < ?', Math.min(q.toMs, beforeMs))
  if (q.service !== undefined) add('service = ?', q.service)
  if (q.env !== undefined) add('env = ?', q.env)
  if (q.route !== undefined) add('route = ?', q.route)
  if (q.status === 'error') where.push(ERROR_SPAN)
  else if (q.status === 'ok')
    where.push(`NOT ${ERROR_SPAN.replace('http_status', 'COALESCE(http_status, 0)')}`)
  if (q.minDurationMs !== undefined) add('duration_ms >= ?', q.minDurationMs)
  if (q.maxDurationMs !== undefined) add('duration_ms <= ?', q.maxDurationMs)
  args.push(pageSize)
  return {
    sql: `SELECT trace_id, start_ms, status_code, http_status FROM spans WHERE ${where.join(' AND ')} ORDER BY start_ms DESC LIMIT ${ph(args.length)}`,
    args,
  }
}

/** A span that matched the search (a row of {@link searchPageSql}). */
export interface PageRow {
  trace_id: string
  start_ms: number | string
  status_code: number | string
  http_status: number | string | null
}

/** What a search asks of the database. */
export interface SearchDb {
  /** one page of matching spans below `beforeMs`, newest first ({@link searchPageSql}) */
  page(beforeMs: number, pageSize: number): Promise<PageRow[]>
  /** every stored span of these traces, in any order */
  spans(traceIds: readonly string[]): Promise<SpanRecord[]>
}

type Reading = ReturnType<TraceReader>

function addSpans(into: Map<string, SpanRecord[]>, spans: readonly SpanRecord[]): void {
  for (const s of spans) {
    const list = into.get(s.traceId)
    if (list === undefined) into.set(s.traceId, [s])
    else list.push(s)
  }
}

/**
 * Traces with a span matching `q`, newest first, summarized: runs pages until `limit` distinct
 * traces are found or the range is exhausted. Under `status: 'error'` a trace is listed only when
 * one of its matching spans failed by `read`.
 */
export async function searchTraces(q: TraceQuery, read: TraceReader, db: SearchDb): Promise<TraceListItem[]> {
  const ids: string[] = []
  const listed = new Set<string>()
  const recheck = q.status === 'error'
  const readings = new Map<string, Reading>()
  const spans = new Map<string, SpanRecord[]>()
  /** reads the traces of the page's spans from `from` on that are not read yet, `n` of them */
  const readAhead = async (rows: readonly PageRow[], from: number, n: number) => {
    const batch = new Set<string>()
    for (let k = from; k < rows.length && batch.size < n; k++)
      if (!listed.has(rows[k].trace_id) && !readings.has(rows[k].trace_id)) batch.add(rows[k].trace_id)
    const found = new Map<string, SpanRecord[]>()
    addSpans(found, await db.spans([...batch]))
    for (const id of batch) {
      const list = found.get(id) ?? []
      readings.set(id, read(list))
      spans.set(id, list)
    }
  }
  let before = q.toMs
  const pageSize = Math.max(100, q.limit * 20)
  for (let pages = 0; pages < MAX_PAGES && ids.length < q.limit; pages++) {
    const rows = await db.page(before, pageSize)
    for (let i = 0; i < rows.length && ids.length < q.limit; i++) {
      const r = rows[i]
      if (listed.has(r.trace_id)) continue
      if (recheck) {
        if (!readings.has(r.trace_id))
          await readAhead(rows, i, Math.max(q.limit - ids.length, MIN_READ_AHEAD))
        const status = {
          statusCode: Number(r.status_code),
          httpStatus: r.http_status === null ? null : Number(r.http_status),
        }
        // a span SQL calls failed may be one the client's departure cut off; a later span of the
        // same trace may still have failed, so the trace is not passed over for good
        if (!(readings.get(r.trace_id) as Reading).failed(status)) continue
      }
      listed.add(r.trace_id)
      ids.push(r.trace_id)
    }
    // the spans of traces read but not listed are not kept (their reading is)
    for (const id of spans.keys()) if (!listed.has(id)) spans.delete(id)
    if (rows.length < pageSize) break
    // the next page starts below the oldest start seen (spans at exactly that time were all read
    // unless the page ended inside them, which re-reading them handles through `listed`)
    const last = Number(rows[rows.length - 1].start_ms)
    before = last === before ? last - 1e-6 : last + 1e-6
  }
  const unread = ids.filter((id) => !spans.has(id))
  if (unread.length > 0) addSpans(spans, await db.spans(unread))
  const out: TraceListItem[] = []
  for (const id of ids) {
    const list = spans.get(id)
    if (list === undefined || list.length === 0) continue
    out.push(summarize(id, list, readings.get(id) ?? read(list)))
  }
  return out
}

/** The summary of one trace from its spans and its reading. */
function summarize(traceId: string, spans: readonly SpanRecord[], reading: Reading): TraceListItem {
  let t0 = Infinity
  let t1 = -Infinity
  let errors = 0
  let route: string | null = null
  let requestId: string | null = null
  let root: SpanRecord | null = null
  const services = new Set<string>()
  const envs = new Set<string>()
  const ids = new Set(spans.map((s) => s.spanId))
  for (const s of spans) {
    t0 = Math.min(t0, s.startTimeMs)
    t1 = Math.max(t1, s.startTimeMs + s.durationMs)
    if (reading.failed(s)) errors++
    if (s.source === 'gateway') {
      route = s.route
      requestId = s.requestId ?? requestId
    } else requestId ??= s.requestId
    services.add(s.source === 'gateway' ? 'vigil' : s.service)
    envs.add(s.env)
    const isRoot = s.parentSpanId === null || !ids.has(s.parentSpanId)
    if (isRoot && (root === null || s.startTimeMs < root.startTimeMs)) root = s
  }
  return {
    traceId,
    startMs: t0,
    durationMs: t1 - t0,
    spanCount: spans.length,
    errorCount: errors,
    abandoned: reading.abandoned,
    route,
    requestId,
    rootService: root === null ? null : root.source === 'gateway' ? 'vigil' : root.service,
    rootName: root?.name ?? null,
    services: [...services].sort(),
    envs: [...envs].sort(),
  }
}

/** Columns of graph_edges in insert order. */
export const GRAPH_COLUMNS = 'start_ms, duration_ms, from_node, to_node, calls, errors, sketch'

export interface GraphDbRow {
  start_ms: number | string
  duration_ms: number | string
  from_node: string
  to_node: string
  calls: number | string
  errors: number | string
  sketch: Uint8Array
}

export function rowToGraph(r: GraphDbRow): StoredGraphRow {
  return {
    windowStartMs: Number(r.start_ms),
    windowMs: Number(r.duration_ms),
    from: r.from_node,
    to: r.to_node,
    calls: Number(r.calls),
    errors: Number(r.errors),
    latencySketch: new Uint8Array(r.sketch),
  }
}
