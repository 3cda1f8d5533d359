/**
 * @module Trace search and service-graph rows, SQL shared by both adapters (placeholders differ:
 * `?` in SQLite, `$n` in PostgreSQL).
 *
 * A search walks spans newest first through an index on `start_ms` (or `(service, start_ms)`,
 * `(env, start_ms)`, the partial error index) and stops once it has `limit` distinct traces, so a
 * search over a busy hour reads a few hundred index entries, not the hour.
 */
import type { StoredGraphRow, TraceListItem, TraceQuery } from './store.js'

/** The SQL predicate of a failed span (error status or 5xx); the partial index uses the same text. */
export const ERROR_SPAN = '(status_code = 2 OR http_status >= 500)'

/** One page of matching spans, newest first: `SELECT trace_id, start_ms ... LIMIT`. */
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
    sql: `SELECT trace_id, start_ms FROM spans WHERE ${where.join(' AND ')} ORDER BY start_ms DESC LIMIT ${ph(args.length)}`,
    args,
  }
}

/**
 * Runs pages until `limit` distinct traces are found or the range is exhausted; resolves to trace
 * ids newest first.
 */
export async function searchTraceIds(
  q: TraceQuery,
  page: (beforeMs: number, pageSize: number) => Promise<{ trace_id: string; start_ms: number | string }[]>,
): Promise<string[]> {
  const ids: string[] = []
  const seen = new Set<string>()
  let before = q.toMs
  const pageSize = Math.max(100, q.limit * 20)
  for (let pages = 0; pages < 50 && ids.length < q.limit; pages++) {
    const rows = await page(before, pageSize)
    for (const r of rows) {
      if (seen.has(r.trace_id)) continue
      seen.add(r.trace_id)
      ids.push(r.trace_id)
      if (ids.length === q.limit) break
    }
    if (rows.length < pageSize) break
    // the next page starts below the oldest start seen (spans at exactly that time were all read
    // unless the page ended inside them, which re-reading them handles through `seen`)
    const last = Number(rows[rows.length - 1].start_ms)
    before = last === before ? last - 1e-6 : last + 1e-6
  }
  return ids
}

/** Columns of the per-span rows the summaries are computed from. */
export const SUMMARY_COLUMNS =
  'trace_id, span_id, parent_span_id, service, env, route, name, source, request_id, start_ms, duration_ms, status_code, http_status'

export interface SummaryRow {
  trace_id: string
  span_id: string
  parent_span_id: string | null
  service: string
  env: string
  route: string
  name: string
  source: string
  request_id: string | null
  start_ms: number | string
  duration_ms: number | string
  status_code: number | string
  http_status: number | string | null
}

/** Trace summaries from the spans of the traces found, in the order of `ids`. */
export function summarize(ids: readonly string[], rows: readonly SummaryRow[]): TraceListItem[] {
  const by = new Map<string, SummaryRow[]>()
  for (const r of rows) {
    const list = by.get(r.trace_id)
    if (list === undefined) by.set(r.trace_id, [r])
    else list.push(r)
  }
  const out: TraceListItem[] = []
  for (const id of ids) {
    const spans = by.get(id)
    if (spans === undefined) continue
    let t0 = Infinity
    let t1 = -Infinity
    let errors = 0
    let route: string | null = null
    let requestId: string | null = null
    let root: SummaryRow | null = null
    const services = new Set<string>()
    const envs = new Set<string>()
    const ids = new Set(spans.map((s) => s.span_id))
    for (const s of spans) {
      const start = Number(s.start_ms)
      t0 = Math.min(t0, start)
      t1 = Math.max(t1, start + Number(s.duration_ms))
      const status = s.http_status === null ? null : Number(s.http_status)
      if (Number(s.status_code) === 2 || (status !== null && status >= 500)) errors++
      if (s.source === 'gateway') {
        route = s.route
        requestId = s.request_id ?? requestId
      } else requestId ??= s.request_id
      services.add(s.source === 'gateway' ? 'vigil' : s.service)
      envs.add(s.env)
      const isRoot = s.parent_span_id === null || !ids.has(s.parent_span_id)
      if (isRoot && (root === null || start < Number(root.start_ms))) root = s
    }
    out.push({
      traceId: id,
      startMs: t0,
      durationMs: t1 - t0,
      spanCount: spans.length,
      errorCount: errors,
      route,
      requestId,
      rootService: root === null ? null : root.source === 'gateway' ? 'vigil' : root.service,
      rootName: root?.name ?? null,
      services: [...services].sort(),
      envs: [...envs].sort(),
    })
  }
  return out
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
