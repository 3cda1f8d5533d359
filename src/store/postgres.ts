/**
 * @module `PostgresStore`: the scaled-out Store adapter on pg (loaded lazily). Batched writes are
 * single statements over `unnest()` of column arrays: one round trip and a constant number of
 * parameters however many rows, with `ON CONFLICT` upserts for idempotence.
 */
import type { Pool, PoolClient } from 'pg'
import {
  VGL_ERR_STORE_CLOSED,
  VGL_ERR_STORE_FENCED,
  VGL_ERR_STORE_MIGRATION,
  VGL_ERR_STORE_MISSING,
  VGL_ERR_STORE_OPEN,
} from '../errors.js'
import type { Rollup, SpanRecord } from '../telemetry/types.js'
import {
  GRAPH_COLUMNS,
  rowToGraph,
  searchPageSql,
  searchTraces,
  type GraphDbRow,
  type PageRow,
} from './trace-search.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import { dedupeRollups, deriveWindow, HOUR_MS, mergePoints, MINUTE_MS, touched } from './merge.js'
import { checkMigrationOrder } from './migrations/migration.js'
import { POSTGRES_MIGRATIONS } from './migrations/postgres.js'
import {
  ACTION_COLUMNS,
  AUDIT_COLUMNS,
  auditFilter,
  auditValues,
  rowToAudit,
  type AuditRow,
  actionFilter,
  actionValues,
  COUNTER_COLUMNS,
  COUNTER_WIDTH,
  counterValues,
  UPDATE_COUNTERS,
  RETENTION_TABLES,
  rowToAck,
  rowToAction,
  rowToEvent,
  rowToSilence,
  rowToPoint,
  rowToRollup,
  rowToSpan,
  type AckRow,
  type ActionRow,
  type EventRow,
  type PointRow,
  type RawRow,
  type SilenceRow,
  type SpanRow,
} from './rows.js'
import {
  ALL,
  type ActionQuery,
  type AuditQuery,
  type StoredAuditEvent,
  type ActionRecord,
  type ActionResult,
  type ControlStateEntry,
  type EventQuery,
  type PruneResult,
  type Resolution,
  type RetentionMs,
  type SeriesInfo,
  type Store,
  type StoredAlertAck,
  type StoredEvent,
  type StoredGraphRow,
  type StoredPoint,
  type TraceListItem,
  type TraceQuery,
  type TraceReader,
  type StoredSilence,
} from './store.js'

export interface PostgresStoreOptions {
  /** e.g. postgres://postgres@127.0.0.1:5432/vigil */
  url: string
  /** schema holding Vigil's tables (created when missing); default "public" */
  schema?: string
  /** pool size; default 4 */
  maxConnections?: number
  /** open only a schema Vigil has written, creating nothing: what to do instead, for the error */
  mustExist?: string
}

const SERIES_TABLES: Record<Resolution, string> = {
  window: 'series_window',
  '1m': 'series_1m',
  '1h': 'series_1h',
}

/** every counter is a bigint but the sketch, which comes last */
const COUNTER_TYPES = [...Array<string>(COUNTER_WIDTH - 1).fill('bigint'), 'bytea']
const POINT_COLUMNS = `service, route, env, start_ms, duration_ms, sources, ${COUNTER_COLUMNS}, updated_ms`
const POINT_TYPES = ['text', 'text', 'text', 'bigint', 'int', 'int', ...COUNTER_TYPES, 'bigint']
const RAW_COLUMNS = `gateway_id, service, route, env, start_ms, duration_ms, ${COUNTER_COLUMNS}, received_ms`
const RAW_TYPES = ['text', 'text', 'text', 'text', 'bigint', 'int', ...COUNTER_TYPES, 'bigint']

/** `SELECT * FROM unnest($1::text[], $2::bigint[], ...)`: n columns as n array parameters. */
function unnest(types: readonly string[]): string {
  return `SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`
}

/** Transposes rows into one array per column for `unnest`. */
function columns(rows: readonly unknown[][], width: number): unknown[][] {
  const cols: unknown[][] = Array.from({ length: width }, () => new Array(rows.length))
  for (let r = 0; r < rows.length; r++) for (let c = 0; c < width; c++) cols[c][r] = rows[r][c]
  return cols
}

const pointValues = (p: StoredPoint, nowMs: number): unknown[] => [
  p.series.service,
  p.series.route,
  p.series.env,
  p.startMs,
  p.durationMs,
  p.sources,
  ...counterValues(p),
  nowMs,
]

const upsertPointsSql = (table: string) =>
  `INSERT INTO ${table} (${POINT_COLUMNS}) ${unnest(POINT_TYPES)}
   ON CONFLICT (service, route, env, start_ms) DO UPDATE SET duration_ms=excluded.duration_ms,
     sources=excluded.sources, ${UPDATE_COUNTERS}, updated_ms=excluded.updated_ms`

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const
  readonly schema: string
  #pool: Pool
  #closed = false

  /** Connects, creates the schema when missing and applies pending migrations. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresStore> {
    const schema = opts.schema ?? 'public'
    if (!/^[a-z_][a-z0-9_]*$/.test(schema))
      throw VGL_ERR_STORE_OPEN(
        'postgres',
        opts.url,
        `schema "${schema}" must be lower-case letters, digits and _`,
      )
    const pg = await import('pg').then(
      (m) => m.default,
      (err: Error) => {
        throw VGL_ERR_STORE_OPEN('postgres', redact(opts.url), `pg did not load: ${err.message}`)
      },
    )
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.maxConnections ?? 4,
      options: `-c search_path=${schema}`,
      // a database that stops answering (a network partition drops packets instead of refusing)
      // fails the write after this long, so the control plane retries instead of hanging
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
    })
    // An idle client losing its connection must not crash the process; the next query reconnects.
    pool.on('error', () => {})
    try {
      await pool.query('SELECT 1')
    } catch (err) {
      await pool.end().catch(() => {})
      throw VGL_ERR_STORE_OPEN('postgres', redact(opts.url), `${(err as Error).message}; check store.url`)
    }
    if (opts.mustExist !== undefined) {
      const found = await pool
        .query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [`${schema}.schema_migrations`])
        .then((r) => r.rows[0]?.t ?? null)
        .catch(() => null)
      if (found === null) {
        await pool.end().catch(() => {})
        throw VGL_ERR_STORE_MISSING(
          `schema "${schema}" of ${redact(opts.url)} (store.url, store.schema): it holds no Vigil tables`,
          opts.mustExist,
        )
      }
    }
    const store = new PostgresStore(pool, schema)
    try {
      await store.#migrate()
    } catch (err) {
      await pool.end().catch(() => {})
      throw err
    }
    return store
  }

  private constructor(pool: Pool, schema: string) {
    this.#pool = pool
    this.schema = schema
  }

  async #migrate(): Promise<void> {
    checkMigrationOrder(POSTGRES_MIGRATIONS)
    await this.#tx(async (c) => {
      // Serialises concurrent starts (several `vigil control` processes) on one database.
      await c.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`${this.schema}.vigil_migrations`])
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`)
      await c.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)`,
      )
      const done = new Set(
        (await c.query<{ id: number }>('SELECT id FROM schema_migrations')).rows.map((r) => r.id),
      )
      for (const m of POSTGRES_MIGRATIONS) {
        if (done.has(m.id)) continue
        try {
          await c.query('SAVEPOINT m')
          await c.query(m.sql)
          await c.query('INSERT INTO schema_migrations (id, name, applied_ms) VALUES ($1, $2, $3)', [
            m.id,
            m.name,
            Date.now(),
          ])
        } catch (err) {
          throw VGL_ERR_STORE_MIGRATION(
            'postgres',
            `${String(m.id).padStart(3, '0')}-${m.name}`,
            (err as Error).message,
          )
        }
      }
    })
  }

  async #tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw VGL_ERR_STORE_CLOSED('postgres')
    const c = await this.#pool.connect()
    // A checked-out client whose connection breaks (the database restarts, the network drops)
    // emits 'error' besides failing its query; unheard, that event would end the process. The
    // broken client is destroyed, not returned to the pool.
    let broken: Error | undefined
    const onError = (err: Error) => void (broken ??= err)
    c.on('error', onError)
    try {
      await c.query('BEGIN')
      const out = await fn(c)
      await c.query('COMMIT')
      return out
    } catch (err) {
      if (broken === undefined) await c.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      c.off('error', onError)
      c.release(broken)
    }
  }

  async #query<R extends object>(sql: string, params: unknown[] = []): Promise<R[]> {
    if (this.#closed) throw VGL_ERR_STORE_CLOSED('postgres')
    return (await this.#pool.query<R>(sql, params)).rows
  }

  async writeWindow(rollups: readonly Rollup[]): Promise<StoredPoint[]> {
    const batch = dedupeRollups(rollups)
    if (batch.length === 0) return []
    const t = touched(batch)
    const c = COUNTER_COLUMNS
    return this.#tx(async (client) => {
      const rk = columns(
        t.routeKeys.map((k) => [k.series.service, k.series.route, k.series.env, k.startMs]),
        4,
      )
      const raw = (
        await client.query<RawRow>(
          `SELECT r.gateway_id, r.service, r.route, r.env, r.start_ms, r.duration_ms, ${prefixed('r', c)}
           FROM rollups_raw r JOIN (${unnest(['text', 'text', 'text', 'bigint'])}) AS k(service, route, env, start_ms)
             USING (service, route, env, start_ms)`,
          rk,
        )
      ).rows.map(rowToRollup)
      const sk = columns(
        t.serviceKeys.map((k) => [k.series.service, k.series.env, k.startMs]),
        3,
      )
      const routeLevel = (
        await client.query<PointRow>(
          `SELECT w.service, w.route, w.env, w.start_ms, w.duration_ms, w.sources, ${prefixed('w', c)}
           FROM series_window w JOIN (${unnest(['text', 'text', 'bigint'])}) AS k(service, env, start_ms)
             USING (service, env, start_ms)
           WHERE w.route <> '${ALL}'`,
          sk,
        )
      ).rows.map(rowToPoint)
      const serviceLevel = (
        await client.query<PointRow>(
          `SELECT service, route, env, start_ms, duration_ms, sources, ${c} FROM series_window
           WHERE start_ms = ANY($1::bigint[]) AND route = '${ALL}' AND service <> '${ALL}'`,
          [t.windows],
        )
      ).rows.map(rowToPoint)
      const points = deriveWindow(batch, { raw, routeLevel, serviceLevel })
      const now = Date.now()
      await client.query(
        `INSERT INTO rollups_raw (${RAW_COLUMNS}) ${unnest(RAW_TYPES)}
         ON CONFLICT (service, route, env, start_ms, gateway_id) DO UPDATE SET
           duration_ms=excluded.duration_ms, ${UPDATE_COUNTERS}, received_ms=excluded.received_ms`,
        columns(
          batch.map((r) => [
            r.gatewayId,
            r.series.service,
            r.series.route,
            r.series.env,
            r.windowStartMs,
            r.windowMs,
            ...counterValues(r),
            now,
          ]),
          RAW_TYPES.length,
        ),
      )
      await client.query(
        upsertPointsSql(SERIES_TABLES.window),
        columns(
          points.map((p) => pointValues(p, now)),
          POINT_TYPES.length,
        ),
      )
      const keyCols = columns(
        points.map((p) => [p.series.service, p.series.route, p.series.env, p.startMs]),
        4,
      )
      await client.query(
        `INSERT INTO downsample_dirty (resolution, bucket_ms, service, route, env)
         SELECT '1m', k.start_ms - (k.start_ms % ${MINUTE_MS}), k.service, k.route, k.env
         FROM (${unnest(['text', 'text', 'text', 'bigint'])}) AS k(service, route, env, start_ms)
         ON CONFLICT DO NOTHING`,
        keyCols,
      )
      await client.query(
        `INSERT INTO series_catalog (service, route, env, first_seen_ms, last_seen_ms)
         SELECT k.service, k.route, k.env, min(k.start_ms), max(k.start_ms)
         FROM (${unnest(['text', 'text', 'text', 'bigint'])}) AS k(service, route, env, start_ms)
         GROUP BY k.service, k.route, k.env
         ON CONFLICT (service, route, env) DO UPDATE SET
           first_seen_ms = LEAST(series_catalog.first_seen_ms, excluded.first_seen_ms),
           last_seen_ms = GREATEST(series_catalog.last_seen_ms, excluded.last_seen_ms)`,
        keyCols,
      )
      return points
    })
  }

  async downsample(nowMs: number, graceMs: number): Promise<number> {
    const levels = [
      { res: '1m', src: 'window', dst: '1m', bucketMs: MINUTE_MS, next: '1h' },
      { res: '1h', src: '1m', dst: '1h', bucketMs: HOUR_MS, next: null },
    ] as const
    return this.#tx(async (client) => {
      let written = 0
      const now = Date.now()
      for (const l of levels) {
        const dirty = (
          await client.query<{ bucket_ms: string; service: string; route: string; env: string }>(
            `DELETE FROM downsample_dirty WHERE resolution=$1 AND bucket_ms<=$2 RETURNING bucket_ms, service, route, env`,
            [l.res, nowMs - graceMs - l.bucketMs],
          )
        ).rows
        if (dirty.length === 0) continue
        const rows = (
          await client.query<PointRow>(
            `SELECT s.service, s.route, s.env, s.start_ms, s.duration_ms, s.sources, ${prefixed('s', COUNTER_COLUMNS)},
                    k.bucket_ms
             FROM ${SERIES_TABLES[l.src]} s
             JOIN (${unnest(['text', 'text', 'text', 'bigint'])}) AS k(service, route, env, bucket_ms)
               ON s.service=k.service AND s.route=k.route AND s.env=k.env
              AND s.start_ms >= k.bucket_ms AND s.start_ms < k.bucket_ms + ${l.bucketMs}`,
            columns(
              dirty.map((d) => [d.service, d.route, d.env, Number(d.bucket_ms)]),
              4,
            ),
          )
        ).rows as (PointRow & { bucket_ms: string })[]
        const groups = new Map<string, { series: SeriesKey; bucket: number; parts: StoredPoint[] }>()
        for (const r of rows) {
          const k = `${r.service}\u0000${r.route}\u0000${r.env}\u0000${r.bucket_ms}`
          let g = groups.get(k)
          if (g === undefined) {
            g = {
              series: { service: r.service, route: r.route, env: r.env },
              bucket: Number(r.bucket_ms),
              parts: [],
            }
            groups.set(k, g)
          }
          g.parts.push(rowToPoint(r))
        }
        const merged = [...groups.values()].map((g) => mergePoints(g.series, g.bucket, l.bucketMs, g.parts))
        if (merged.length === 0) continue
        await client.query(
          upsertPointsSql(SERIES_TABLES[l.dst]),
          columns(
            merged.map((p) => pointValues(p, now)),
            POINT_TYPES.length,
          ),
        )
        written += merged.length
        if (l.next !== null)
          await client.query(
            `INSERT INTO downsample_dirty (resolution, bucket_ms, service, route, env)
             SELECT $1, k.start_ms - (k.start_ms % ${HOUR_MS}), k.service, k.route, k.env
             FROM (SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[])) AS k(service, route, env, start_ms)
             ON CONFLICT DO NOTHING`,
            [
              l.next,
              ...columns(
                merged.map((p) => [p.series.service, p.series.route, p.series.env, p.startMs]),
                4,
              ),
            ],
          )
      }
      return written
    })
  }

  async listSeries(): Promise<SeriesInfo[]> {
    const rows = await this.#query<{
      service: string
      route: string
      env: string
      first_seen_ms: string
      last_seen_ms: string
    }>(
      `SELECT service, route, env, first_seen_ms, last_seen_ms FROM series_catalog ORDER BY service, env, route`,
    )
    return rows.map((r) => ({
      series: { service: r.service, route: r.route, env: r.env },
      firstSeenMs: Number(r.first_seen_ms),
      lastSeenMs: Number(r.last_seen_ms),
    }))
  }

  async queryPoints(
    series: SeriesKey,
    fromMs: number,
    toMs: number,
    resolution: Resolution,
  ): Promise<StoredPoint[]> {
    const rows = await this.#query<PointRow>(
      `SELECT service, route, env, start_ms, duration_ms, sources, ${COUNTER_COLUMNS} FROM ${SERIES_TABLES[resolution]}
       WHERE service=$1 AND route=$2 AND env=$3 AND start_ms>=$4 AND start_ms<$5 ORDER BY start_ms`,
      [series.service, series.route, series.env, fromMs, toMs],
    )
    return rows.map(rowToPoint)
  }

  async queryRaw(series: SeriesKey, fromMs: number, toMs: number): Promise<Rollup[]> {
    const rows = await this.#query<RawRow>(
      `SELECT gateway_id, service, route, env, start_ms, duration_ms, ${COUNTER_COLUMNS} FROM rollups_raw
       WHERE service=$1 AND route=$2 AND env=$3 AND start_ms>=$4 AND start_ms<$5 ORDER BY start_ms, gateway_id`,
      [series.service, series.route, series.env, fromMs, toMs],
    )
    return rows.map(rowToRollup)
  }

  async writeSpans(spans: readonly SpanRecord[]): Promise<void> {
    if (spans.length === 0) return
    // The same span twice in one statement would make ON CONFLICT fail; keep the first.
    const seen = new Set<string>()
    const rows: unknown[][] = []
    for (const s of spans) {
      const id = `${s.traceId}/${s.spanId}`
      if (seen.has(id)) continue
      seen.add(id)
      rows.push([
        s.traceId,
        s.spanId,
        s.parentSpanId,
        s.service,
        s.env,
        s.route,
        s.name,
        s.kind,
        s.startTimeMs,
        s.durationMs,
        s.statusCode,
        s.httpStatus,
        s.requestId,
        s.source,
        JSON.stringify(s.attributes),
      ])
    }
    const types = [
      'text',
      'text',
      'text',
      'text',
      'text',
      'text',
      'text',
      'smallint',
      'float8',
      'float8',
      'smallint',
      'smallint',
      'text',
      'text',
      'jsonb',
    ]
    await this.#query(
      `INSERT INTO spans (trace_id, span_id, parent_span_id, service, env, route, name, kind, start_ms,
         duration_ms, status_code, http_status, request_id, source, attributes) ${unnest(types)}
       ON CONFLICT DO NOTHING`,
      columns(rows, types.length),
    )
  }

  async spansByTrace(traceId: string): Promise<SpanRecord[]> {
    const rows = await this.#query<SpanRow>(
      `SELECT * FROM spans WHERE trace_id=$1 ORDER BY start_ms, span_id`,
      [traceId],
    )
    return rows.map(rowToSpan)
  }

  async spansByRequestId(requestId: string): Promise<SpanRecord[]> {
    const rows = await this.#query<SpanRow>(
      `SELECT * FROM spans WHERE trace_id = (SELECT trace_id FROM spans WHERE request_id=$1 LIMIT 1)
       ORDER BY start_ms, span_id`,
      [requestId],
    )
    return rows.map(rowToSpan)
  }

  async searchTraces(q: TraceQuery, read: TraceReader): Promise<TraceListItem[]> {
    return searchTraces(q, read, {
      page: (beforeMs, pageSize) => {
        const { sql, args } = searchPageSql(q, beforeMs, pageSize, (i) => `$${i}`)
        return this.#query<PageRow>(sql, args)
      },
      spans: async (ids) =>
        ids.length === 0
          ? []
          : (await this.#query<SpanRow>(`SELECT * FROM spans WHERE trace_id = ANY($1)`, [ids])).map(
              rowToSpan,
            ),
    })
  }

  async writeGraphRows(rows: readonly StoredGraphRow[]): Promise<void> {
    if (rows.length === 0) return
    // one statement per distinct key: ON CONFLICT cannot touch the same row twice in one statement
    const byKey = new Map<string, StoredGraphRow>()
    for (const r of rows) byKey.set(`${r.windowStartMs}\n${r.from}\n${r.to}`, r)
    const types = ['bigint', 'integer', 'text', 'text', 'float8', 'float8', 'bytea']
    await this.#query(
      `INSERT INTO graph_edges (${GRAPH_COLUMNS}) ${unnest(types)}
       ON CONFLICT (start_ms, from_node, to_node) DO UPDATE SET duration_ms=excluded.duration_ms,
         calls=excluded.calls, errors=excluded.errors, sketch=excluded.sketch`,
      columns(
        [...byKey.values()].map((r) => [
          r.windowStartMs,
          r.windowMs,
          r.from,
          r.to,
          r.calls,
          r.errors,
          Buffer.from(r.latencySketch),
        ]),
        types.length,
      ),
    )
  }

  async queryGraphRows(fromMs: number, toMs: number): Promise<StoredGraphRow[]> {
    const rows = await this.#query<GraphDbRow>(
      `SELECT ${GRAPH_COLUMNS} FROM graph_edges WHERE start_ms >= $1 AND start_ms < $2
       ORDER BY start_ms, from_node, to_node`,
      [fromMs, toMs],
    )
    return rows.map(rowToGraph)
  }

  async appendEvents(events: readonly StoredEvent[]): Promise<void> {
    if (events.length === 0) return
    await this.#query(
      `INSERT INTO events (at_ms, kind, actor, subject, payload)
       ${unnest(['bigint', 'text', 'text', 'text', 'jsonb'])}`,
      columns(
        events.map((e) => [e.atMs, e.kind, e.actor, e.subject, JSON.stringify(e.payload ?? null)]),
        5,
      ),
    )
  }

  async queryEvents(q: EventQuery = {}): Promise<StoredEvent[]> {
    const where: string[] = []
    const args: unknown[] = []
    const add = (sql: string, v: unknown) => {
      args.push(v)
      where.push(sql.replace('?', `$${args.length}`))
    }
    if (q.fromMs !== undefined) add('at_ms>=?', q.fromMs)
    if (q.toMs !== undefined) add('at_ms<?', q.toMs)
    if (q.kind !== undefined) add('kind=?', q.kind)
    args.push(q.limit ?? 100)
    const rows = await this.#query<EventRow>(
      `SELECT * FROM events ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY at_ms DESC, id DESC LIMIT $${args.length}`,
      args,
    )
    return rows.map(rowToEvent)
  }

  async appendAudit(events: readonly StoredAuditEvent[]): Promise<void> {
    if (events.length === 0) return
    const types = ['text', 'bigint', 'text', 'text', 'text', 'jsonb', 'jsonb', 'text']
    await this.#query(
      `INSERT INTO audit (${AUDIT_COLUMNS}) ${unnest(types)} ON CONFLICT (id) DO NOTHING`,
      columns(events.map(auditValues), types.length),
    )
  }

  async queryAudit(q: AuditQuery = {}): Promise<StoredAuditEvent[]> {
    const { where, args } = auditFilter(q, (n) => `$${n}`)
    args.push(q.limit ?? 100)
    const rows = await this.#query<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit ${where} ORDER BY at_ms DESC, id DESC LIMIT $${args.length}`,
      args,
    )
    return rows.map(rowToAudit)
  }

  async prune(nowMs: number, retention: RetentionMs): Promise<PruneResult> {
    return this.#tx(async (client) => {
      const out = {} as PruneResult
      for (const [k, table, col, and] of RETENTION_TABLES)
        out[k] =
          (out[k] ?? 0) +
          ((await client.query(`DELETE FROM ${table} WHERE ${col} < $1${and}`, [nowMs - retention[k]]))
            .rowCount ?? 0)
      return out
    })
  }

  // ---- fencing, actions and control state ------------------------------------------------

  /**
   * Checks the fence inside a transaction. FOR SHARE makes a concurrent advanceFence (an UPDATE)
   * wait for this transaction: a new leader that has advanced the fence then reads state that
   * includes every write the old leader got in before it.
   */
  async #checkFence(c: PoolClient, token: number): Promise<void> {
    const fence = Number(
      (await c.query<{ token: string }>('SELECT token FROM fence WHERE id = 1 FOR SHARE')).rows[0].token,
    )
    if (token !== fence) throw VGL_ERR_STORE_FENCED('postgres', token, fence)
  }

  async advanceFence(): Promise<number> {
    const rows = await this.#query<{ token: string }>(
      'UPDATE fence SET token = token + 1 WHERE id = 1 RETURNING token',
    )
    return Number(rows[0].token)
  }

  async appendActions(actions: readonly ActionRecord[]): Promise<void> {
    if (actions.length === 0) return
    const tokens = new Set(actions.map((a) => a.fencingToken))
    const types = [
      'text',
      'bigint',
      'text',
      'text',
      'text',
      'text',
      'jsonb',
      'jsonb',
      'text',
      'jsonb',
      'jsonb',
      'bigint',
    ]
    await this.#tx(async (c) => {
      for (const t of tokens) await this.#checkFence(c, t)
      await c.query(
        `INSERT INTO actions (${ACTION_COLUMNS}) ${unnest(types)} ON CONFLICT (id) DO NOTHING`,
        columns(actions.map(actionValues), types.length),
      )
    })
  }

  async settleAction(id: string, result: ActionResult): Promise<boolean> {
    const rows = await this.#query<{ id: string }>(
      'UPDATE actions SET result = $1::jsonb WHERE id = $2 RETURNING id',
      [JSON.stringify(result), id],
    )
    return rows.length > 0
  }

  async queryActions(q: ActionQuery = {}): Promise<ActionRecord[]> {
    const { where, args } = actionFilter(q, (n) => `$${n}`)
    args.push(q.limit ?? 100)
    const rows = await this.#query<ActionRow>(
      `SELECT ${ACTION_COLUMNS} FROM actions ${where} ORDER BY at_ms DESC, id DESC LIMIT $${args.length}`,
      args,
    )
    return rows.map(rowToAction)
  }

  async putControlState(
    scope: string,
    entries: readonly ControlStateEntry[],
    fencingToken: number,
  ): Promise<void> {
    await this.#tx(async (c) => {
      await this.#checkFence(c, fencingToken)
      const now = Date.now()
      const gone = entries.filter((e) => e.data === null || e.data === undefined).map((e) => e.key)
      const kept = entries.filter((e) => e.data !== null && e.data !== undefined)
      if (gone.length > 0)
        await c.query('DELETE FROM control_state WHERE scope = $1 AND key = ANY($2::text[])', [scope, gone])
      if (kept.length > 0)
        await c.query(
          `INSERT INTO control_state (scope, key, data, updated_ms, fencing_token)
           SELECT $1, k, d, u, $4 FROM unnest($2::text[], $3::jsonb[], $5::bigint[]) AS x(k, d, u)
           ON CONFLICT (scope, key) DO UPDATE SET data=excluded.data, updated_ms=excluded.updated_ms,
             fencing_token=excluded.fencing_token`,
          [
            scope,
            kept.map((e) => e.key),
            kept.map((e) => JSON.stringify(e.data)),
            fencingToken,
            kept.map((e) => e.updatedMs ?? now),
          ],
        )
    })
  }

  async getControlState(scope: string): Promise<ControlStateEntry[]> {
    const rows = await this.#query<{ key: string; data: unknown; updated_ms: string }>(
      'SELECT key, data, updated_ms FROM control_state WHERE scope = $1 ORDER BY key',
      [scope],
    )
    return rows.map((r) => ({ key: r.key, data: r.data, updatedMs: Number(r.updated_ms) }))
  }

  async putSilence(x: StoredSilence): Promise<void> {
    await this.#query(
      `INSERT INTO silences (id, matchers, starts_ms, ends_ms, created_by, comment, created_ms)
       VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7)
       ON CONFLICT (id) DO UPDATE SET matchers=excluded.matchers, starts_ms=excluded.starts_ms,
         ends_ms=excluded.ends_ms, created_by=excluded.created_by, comment=excluded.comment`,
      [x.id, JSON.stringify(x.matchers), x.startsAtMs, x.endsAtMs, x.createdBy, x.comment, x.createdAtMs],
    )
  }

  async deleteSilence(id: string): Promise<boolean> {
    return (
      (await this.#query<{ id: string }>('DELETE FROM silences WHERE id = $1 RETURNING id', [id])).length > 0
    )
  }

  async listSilences(activeAtMs?: number): Promise<StoredSilence[]> {
    const rows =
      activeAtMs === undefined
        ? await this.#query<SilenceRow>('SELECT * FROM silences ORDER BY created_ms DESC, id DESC')
        : await this.#query<SilenceRow>(
            'SELECT * FROM silences WHERE ends_ms >= $1 ORDER BY created_ms DESC, id DESC',
            [activeAtMs],
          )
    return rows.map(rowToSilence)
  }

  async putAlertAck(a: StoredAlertAck): Promise<void> {
    await this.#query(
      `INSERT INTO alert_acks (fingerprint, starts_ms, by_name, comment, at_ms) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (fingerprint, starts_ms) DO UPDATE SET by_name=excluded.by_name,
         comment=excluded.comment, at_ms=excluded.at_ms`,
      [a.fingerprint, a.startsAtMs, a.by, a.comment, a.atMs],
    )
  }

  async listAlertAcks(sinceMs?: number): Promise<StoredAlertAck[]> {
    const rows = await this.#query<AckRow>('SELECT * FROM alert_acks WHERE at_ms >= $1 ORDER BY at_ms DESC', [
      sinceMs ?? 0,
    ])
    return rows.map(rowToAck)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#pool.end()
  }

  /** Drops the schema and everything in it (tests use a schema per run). */
  async dropSchema(): Promise<void> {
    if (this.schema === 'public') throw new Error('refusing to drop the public schema')
    await this.#query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`)
  }
}

function prefixed(alias: string, cols: string): string {
  return cols
    .split(', ')
    .map((c) => `${alias}.${c}`)
    .join(', ')
}

function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@')
}
