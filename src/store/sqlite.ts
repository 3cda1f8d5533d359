/**
 * @module `SqliteStore`: the embedded Store adapter on better-sqlite3 (loaded lazily so commands
 * that never store anything never load the native module). WAL journal, every statement prepared
 * once into a private field, one transaction per written window.
 */
import { existsSync, linkSync, mkdirSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
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
import { SQLITE_MIGRATIONS } from './migrations/sqlite.js'
import {
  ACTION_COLUMNS,
  actionFilter,
  actionValues,
  AUDIT_COLUMNS,
  auditFilter,
  auditValues,
  rowToAudit,
  type AuditRow,
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

export interface SqliteStoreOptions {
  /** database file; ':memory:' for a throwaway store. Its folder is created when missing. */
  path: string
  /** open only an existing file, creating nothing: what to do instead, for the error when it is missing */
  mustExist?: string
}

type Stmt = BetterSqlite3.Statement

const SERIES_TABLES: Record<Resolution, string> = {
  window: 'series_window',
  '1m': 'series_1m',
  '1h': 'series_1h',
}

const pointValues = (p: StoredPoint, nowMs: number) => [
  p.series.service,
  p.series.route,
  p.series.env,
  p.startMs,
  p.durationMs,
  p.sources,
  ...counterValues(p),
  nowMs,
]

/** `?,?,…` for the six key columns of a row, its counters and one timestamp. */
const ROW_PARAMS = Array(6 + COUNTER_WIDTH + 1)
  .fill('?')
  .join(',')

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const
  readonly path: string
  #db!: BetterSqlite3.Database
  readonly #Database: typeof BetterSqlite3
  #closed = false
  #upsertRaw!: Stmt
  #selRaw!: Stmt
  #selRawRange!: Stmt
  #selRouteLevel!: Stmt
  #selServiceLevel!: Stmt
  #upsertPoint!: Record<Resolution, Stmt>
  #selPoints!: Record<Resolution, Stmt>
  #markDirty!: Stmt
  #selDirty!: Stmt
  #delDirty!: Stmt
  #touchCatalog!: Stmt
  #selCatalog!: Stmt
  #insertSpan!: Stmt
  #selTrace!: Stmt
  #selTraceIdByRequest!: Stmt
  #insertEvent!: Stmt
  #prune!: [keyof RetentionMs, Stmt][]
  #selFence!: Stmt
  #insertAction!: Stmt
  #insertAudit!: Stmt
  #writeWindowTx!: (batch: Rollup[]) => StoredPoint[]
  #writeSpansTx!: (spans: readonly SpanRecord[]) => void

  /** Opens (creating when missing) and migrates the database. */
  static async open(opts: SqliteStoreOptions): Promise<SqliteStore> {
    let Database: typeof BetterSqlite3
    try {
      Database = (await import('better-sqlite3')).default
    } catch (err) {
      throw VGL_ERR_STORE_OPEN('sqlite', opts.path, `better-sqlite3 did not load: ${(err as Error).message}`)
    }
    const mustExist = opts.mustExist !== undefined && opts.path !== ':memory:'
    if (mustExist && !existsSync(opts.path))
      throw VGL_ERR_STORE_MISSING(`${resolve(opts.path)} (store.path)`, opts.mustExist)
    let db: BetterSqlite3.Database
    try {
      if (opts.path !== ':memory:' && !mustExist) mkdirSync(dirname(opts.path), { recursive: true })
      db = connect(Database, opts.path, mustExist)
    } catch (err) {
      throw VGL_ERR_STORE_OPEN(
        'sqlite',
        opts.path,
        `${(err as Error).message}; check store.path and its folder`,
      )
    }
    migrate(db)
    return new SqliteStore(Database, db, opts.path)
  }

  private constructor(Database: typeof BetterSqlite3, db: BetterSqlite3.Database, path: string) {
    this.#Database = Database
    this.path = path
    this.#use(db)
  }

  /** Prepares every statement on `db` and makes it the connection all methods use. */
  #use(db: BetterSqlite3.Database): void {
    this.#db = db
    const c = COUNTER_COLUMNS
    this.#upsertRaw = db.prepare(
      `INSERT INTO rollups_raw (gateway_id, service, route, env, start_ms, duration_ms, ${c}, received_ms)
       VALUES (${ROW_PARAMS})
       ON CONFLICT (service, route, env, start_ms, gateway_id) DO UPDATE SET
         duration_ms=excluded.duration_ms, ${UPDATE_COUNTERS}, received_ms=excluded.received_ms`,
    )
    this.#selRaw = db.prepare(
      `SELECT gateway_id, service, route, env, start_ms, duration_ms, ${c} FROM rollups_raw
       WHERE service=? AND route=? AND env=? AND start_ms=?`,
    )
    this.#selRawRange = db.prepare(
      `SELECT gateway_id, service, route, env, start_ms, duration_ms, ${c} FROM rollups_raw
       WHERE service=? AND route=? AND env=? AND start_ms>=? AND start_ms<? ORDER BY start_ms, gateway_id`,
    )
    this.#selRouteLevel = db.prepare(
      `SELECT service, route, env, start_ms, duration_ms, sources, ${c} FROM series_window
       WHERE service=? AND env=? AND start_ms=? AND route<>'${ALL}'`,
    )
    this.#selServiceLevel = db.prepare(
      `SELECT service, route, env, start_ms, duration_ms, sources, ${c} FROM series_window
       WHERE start_ms=? AND route='${ALL}' AND service<>'${ALL}'`,
    )
    const upsertPoint = (table: string) =>
      db.prepare(
        `INSERT INTO ${table} (service, route, env, start_ms, duration_ms, sources, ${c}, updated_ms)
         VALUES (${ROW_PARAMS})
         ON CONFLICT (service, route, env, start_ms) DO UPDATE SET
           duration_ms=excluded.duration_ms, sources=excluded.sources, ${UPDATE_COUNTERS},
           updated_ms=excluded.updated_ms`,
      )
    const selPoints = (table: string) =>
      db.prepare(
        `SELECT service, route, env, start_ms, duration_ms, sources, ${c} FROM ${table}
         WHERE service=? AND route=? AND env=? AND start_ms>=? AND start_ms<? ORDER BY start_ms`,
      )
    this.#upsertPoint = {
      window: upsertPoint(SERIES_TABLES.window),
      '1m': upsertPoint(SERIES_TABLES['1m']),
      '1h': upsertPoint(SERIES_TABLES['1h']),
    }
    this.#selPoints = {
      window: selPoints(SERIES_TABLES.window),
      '1m': selPoints(SERIES_TABLES['1m']),
      '1h': selPoints(SERIES_TABLES['1h']),
    }
    this.#markDirty = db.prepare(
      `INSERT INTO downsample_dirty (resolution, bucket_ms, service, route, env) VALUES (?,?,?,?,?)
       ON CONFLICT DO NOTHING`,
    )
    this.#selDirty = db.prepare(
      `SELECT bucket_ms, service, route, env FROM downsample_dirty WHERE resolution=? AND bucket_ms<=?`,
    )
    this.#delDirty = db.prepare(
      `DELETE FROM downsample_dirty WHERE resolution=? AND bucket_ms=? AND service=? AND route=? AND env=?`,
    )
    this.#touchCatalog = db.prepare(
      `INSERT INTO series_catalog (service, route, env, first_seen_ms, last_seen_ms) VALUES (?,?,?,?,?)
       ON CONFLICT (service, route, env) DO UPDATE SET
         first_seen_ms=min(first_seen_ms, excluded.first_seen_ms),
         last_seen_ms=max(last_seen_ms, excluded.last_seen_ms)`,
    )
    this.#selCatalog = db.prepare(
      `SELECT service, route, env, first_seen_ms, last_seen_ms FROM series_catalog ORDER BY service, env, route`,
    )
    this.#insertSpan = db.prepare(
      `INSERT INTO spans (trace_id, span_id, parent_span_id, service, env, route, name, kind, start_ms,
         duration_ms, status_code, http_status, request_id, source, attributes)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING`,
    )
    this.#selTrace = db.prepare(`SELECT * FROM spans WHERE trace_id=? ORDER BY start_ms, span_id`)
    this.#selTraceIdByRequest = db.prepare(`SELECT trace_id FROM spans WHERE request_id=? LIMIT 1`)
    this.#insertEvent = db.prepare(
      `INSERT INTO events (at_ms, kind, actor, subject, payload) VALUES (?,?,?,?,?)`,
    )
    this.#prune = RETENTION_TABLES.map(([k, table, col, and]) => [
      k,
      db.prepare(`DELETE FROM ${table} WHERE ${col}<?${and}`),
    ])
    this.#selFence = db.prepare('SELECT token FROM fence WHERE id = 1')
    this.#insertAction = db.prepare(
      `INSERT INTO actions (${ACTION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING`,
    )
    this.#insertAudit = db.prepare(
      `INSERT INTO audit (${AUDIT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (id) DO NOTHING`,
    )

    this.#writeWindowTx = db.transaction((batch: Rollup[]) => {
      const t = touched(batch)
      const raw: Rollup[] = []
      for (const k of t.routeKeys)
        for (const row of this.#selRaw.all(k.series.service, k.series.route, k.series.env, k.startMs))
          raw.push(rowToRollup(row as RawRow))
      const routeLevel: StoredPoint[] = []
      for (const k of t.serviceKeys)
        for (const row of this.#selRouteLevel.all(k.series.service, k.series.env, k.startMs))
          routeLevel.push(rowToPoint(row as PointRow))
      const serviceLevel: StoredPoint[] = []
      for (const w of t.windows)
        for (const row of this.#selServiceLevel.all(w)) serviceLevel.push(rowToPoint(row as PointRow))
      const points = deriveWindow(batch, { raw, routeLevel, serviceLevel })
      const now = Date.now()
      for (const r of batch)
        this.#upsertRaw.run(
          r.gatewayId,
          r.series.service,
          r.series.route,
          r.series.env,
          r.windowStartMs,
          r.windowMs,
          ...counterValues(r),
          now,
        )
      for (const p of points) {
        this.#upsertPoint.window.run(...pointValues(p, now))
        const s = p.series
        this.#markDirty.run('1m', p.startMs - (p.startMs % MINUTE_MS), s.service, s.route, s.env)
        this.#touchCatalog.run(s.service, s.route, s.env, p.startMs, p.startMs)
      }
      return points
    })
    this.#writeSpansTx = db.transaction((spans: readonly SpanRecord[]) => {
      for (const s of spans)
        this.#insertSpan.run(
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
        )
    })
  }

  #open(): void {
    if (this.#closed) throw VGL_ERR_STORE_CLOSED('sqlite')
  }

  async writeWindow(rollups: readonly Rollup[]): Promise<StoredPoint[]> {
    this.#open()
    const batch = dedupeRollups(rollups)
    if (batch.length === 0) return []
    return this.#writeWindowTx(batch)
  }

  async downsample(nowMs: number, graceMs: number): Promise<number> {
    this.#open()
    const levels = [
      { res: '1m', src: 'window', dst: '1m', bucketMs: MINUTE_MS, next: '1h' },
      { res: '1h', src: '1m', dst: '1h', bucketMs: HOUR_MS, next: null },
    ] as const
    return this.#db.transaction(() => {
      let written = 0
      const now = Date.now()
      for (const l of levels) {
        const dirty = this.#selDirty.all(l.res, nowMs - graceMs - l.bucketMs) as {
          bucket_ms: number
          service: string
          route: string
          env: string
        }[]
        for (const d of dirty) {
          const series: SeriesKey = { service: d.service, route: d.route, env: d.env }
          const bucket = Number(d.bucket_ms)
          const rows = this.#selPoints[l.src].all(
            d.service,
            d.route,
            d.env,
            bucket,
            bucket + l.bucketMs,
          ) as PointRow[]
          if (rows.length > 0) {
            this.#upsertPoint[l.dst].run(
              ...pointValues(mergePoints(series, bucket, l.bucketMs, rows.map(rowToPoint)), now),
            )
            written++
            if (l.next !== null)
              this.#markDirty.run(l.next, bucket - (bucket % HOUR_MS), d.service, d.route, d.env)
          }
          this.#delDirty.run(l.res, d.bucket_ms, d.service, d.route, d.env)
        }
      }
      return written
    })()
  }

  async listSeries(): Promise<SeriesInfo[]> {
    this.#open()
    return (
      this.#selCatalog.all() as {
        service: string
        route: string
        env: string
        first_seen_ms: number
        last_seen_ms: number
      }[]
    ).map((r) => ({
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
    this.#open()
    const rows = this.#selPoints[resolution].all(series.service, series.route, series.env, fromMs, toMs)
    return (rows as PointRow[]).map(rowToPoint)
  }

  async queryRaw(series: SeriesKey, fromMs: number, toMs: number): Promise<Rollup[]> {
    this.#open()
    const rows = this.#selRawRange.all(series.service, series.route, series.env, fromMs, toMs)
    return (rows as RawRow[]).map(rowToRollup)
  }

  async writeSpans(spans: readonly SpanRecord[]): Promise<void> {
    this.#open()
    if (spans.length > 0) this.#writeSpansTx(spans)
  }

  async spansByTrace(traceId: string): Promise<SpanRecord[]> {
    this.#open()
    return (this.#selTrace.all(traceId) as SpanRow[]).map(rowToSpan)
  }

  async spansByRequestId(requestId: string): Promise<SpanRecord[]> {
    this.#open()
    const row = this.#selTraceIdByRequest.get(requestId) as { trace_id: string } | undefined
    return row === undefined ? [] : this.spansByTrace(row.trace_id)
  }

  async searchTraces(q: TraceQuery, read: TraceReader): Promise<TraceListItem[]> {
    this.#open()
    return searchTraces(q, read, {
      page: async (beforeMs, pageSize) => {
        const { sql, args } = searchPageSql(q, beforeMs, pageSize, () => '?')
        return this.#db.prepare(sql).all(...(args as (string | number)[])) as PageRow[]
      },
      spans: async (ids) =>
        ids.length === 0
          ? []
          : (
              this.#db
                .prepare(`SELECT * FROM spans WHERE trace_id IN (${ids.map(() => '?').join(',')})`)
                .all(...ids) as SpanRow[]
            ).map(rowToSpan),
    })
  }

  async writeGraphRows(rows: readonly StoredGraphRow[]): Promise<void> {
    this.#open()
    if (rows.length === 0) return
    const stmt = this.#db.prepare(
      `INSERT INTO graph_edges (${GRAPH_COLUMNS}) VALUES (?,?,?,?,?,?,?)
       ON CONFLICT (start_ms, from_node, to_node) DO UPDATE SET duration_ms=excluded.duration_ms,
         calls=excluded.calls, errors=excluded.errors, sketch=excluded.sketch`,
    )
    this.#db.transaction(() => {
      for (const r of rows)
        stmt.run(r.windowStartMs, r.windowMs, r.from, r.to, r.calls, r.errors, r.latencySketch)
    })()
  }

  async queryGraphRows(fromMs: number, toMs: number): Promise<StoredGraphRow[]> {
    this.#open()
    const rows = this.#db
      .prepare(
        `SELECT ${GRAPH_COLUMNS} FROM graph_edges WHERE start_ms >= ? AND start_ms < ? ORDER BY start_ms, from_node, to_node`,
      )
      .all(fromMs, toMs) as GraphDbRow[]
    return rows.map(rowToGraph)
  }

  async appendEvents(events: readonly StoredEvent[]): Promise<void> {
    this.#open()
    this.#db.transaction(() => {
      for (const e of events)
        this.#insertEvent.run(e.atMs, e.kind, e.actor, e.subject, JSON.stringify(e.payload ?? null))
    })()
  }

  async queryEvents(q: EventQuery = {}): Promise<StoredEvent[]> {
    this.#open()
    const where: string[] = []
    const args: (number | string)[] = []
    if (q.fromMs !== undefined) {
      where.push('at_ms>=?')
      args.push(q.fromMs)
    }
    if (q.toMs !== undefined) {
      where.push('at_ms<?')
      args.push(q.toMs)
    }
    if (q.kind !== undefined) {
      where.push('kind=?')
      args.push(q.kind)
    }
    args.push(q.limit ?? 100)
    // Few, cheap queries with a varying shape: not worth a prepared statement per combination.
    const rows = this.#db
      .prepare(
        `SELECT * FROM events ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at_ms DESC, id DESC LIMIT ?`,
      )
      .all(...args) as EventRow[]
    return rows.map(rowToEvent)
  }

  async appendAudit(events: readonly StoredAuditEvent[]): Promise<void> {
    this.#open()
    this.#db.transaction(() => {
      for (const e of events) this.#insertAudit.run(...auditValues(e))
    })()
  }

  async queryAudit(q: AuditQuery = {}): Promise<StoredAuditEvent[]> {
    this.#open()
    const { where, args } = auditFilter(q, () => '?')
    args.push(q.limit ?? 100)
    const rows = this.#db
      .prepare(`SELECT ${AUDIT_COLUMNS} FROM audit ${where} ORDER BY at_ms DESC, id DESC LIMIT ?`)
      .all(...(args as (string | number)[])) as AuditRow[]
    return rows.map(rowToAudit)
  }

  async prune(nowMs: number, retention: RetentionMs): Promise<PruneResult> {
    this.#open()
    return this.#db.transaction(() => {
      const out = {} as PruneResult
      for (const [k, stmt] of this.#prune) out[k] = (out[k] ?? 0) + stmt.run(nowMs - retention[k]).changes
      return out
    })()
  }

  // ---- fencing, actions and control state ------------------------------------------------

  #fence(): number {
    return Number((this.#selFence.get() as { token: number }).token)
  }

  #checkFence(token: number): void {
    const fence = this.#fence()
    if (token !== fence) throw VGL_ERR_STORE_FENCED('sqlite', token, fence)
  }

  async advanceFence(): Promise<number> {
    this.#open()
    return this.#db
      .transaction(() => {
        this.#db.prepare('UPDATE fence SET token = token + 1 WHERE id = 1').run()
        return this.#fence()
      })
      .immediate()
  }

  async appendActions(actions: readonly ActionRecord[]): Promise<void> {
    this.#open()
    if (actions.length === 0) return
    this.#db
      .transaction(() => {
        for (const a of actions) this.#checkFence(a.fencingToken)
        for (const a of actions) this.#insertAction.run(...actionValues(a))
      })
      .immediate()
  }

  async settleAction(id: string, result: ActionResult): Promise<boolean> {
    this.#open()
    return (
      this.#db.prepare('UPDATE actions SET result = ? WHERE id = ?').run(JSON.stringify(result), id).changes >
      0
    )
  }

  async queryActions(q: ActionQuery = {}): Promise<ActionRecord[]> {
    this.#open()
    const { where, args } = actionFilter(q, () => '?')
    args.push(q.limit ?? 100)
    const rows = this.#db
      .prepare(`SELECT ${ACTION_COLUMNS} FROM actions ${where} ORDER BY at_ms DESC, id DESC LIMIT ?`)
      .all(...(args as (string | number)[])) as ActionRow[]
    return rows.map(rowToAction)
  }

  async putControlState(
    scope: string,
    entries: readonly ControlStateEntry[],
    fencingToken: number,
  ): Promise<void> {
    this.#open()
    const upsert = this.#db.prepare(
      `INSERT INTO control_state (scope, key, data, updated_ms, fencing_token) VALUES (?,?,?,?,?)
       ON CONFLICT (scope, key) DO UPDATE SET data=excluded.data, updated_ms=excluded.updated_ms,
         fencing_token=excluded.fencing_token`,
    )
    const del = this.#db.prepare('DELETE FROM control_state WHERE scope = ? AND key = ?')
    this.#db
      .transaction(() => {
        this.#checkFence(fencingToken)
        const now = Date.now()
        for (const e of entries)
          if (e.data === null || e.data === undefined) del.run(scope, e.key)
          else upsert.run(scope, e.key, JSON.stringify(e.data), e.updatedMs ?? now, fencingToken)
      })
      .immediate()
  }

  async getControlState(scope: string): Promise<ControlStateEntry[]> {
    this.#open()
    const rows = this.#db
      .prepare('SELECT key, data, updated_ms FROM control_state WHERE scope = ? ORDER BY key')
      .all(scope) as { key: string; data: string; updated_ms: number }[]
    return rows.map((r) => ({ key: r.key, data: JSON.parse(r.data), updatedMs: Number(r.updated_ms) }))
  }

  async putSilence(x: StoredSilence): Promise<void> {
    this.#open()
    this.#db
      .prepare(
        `INSERT INTO silences (id, matchers, starts_ms, ends_ms, created_by, comment, created_ms)
         VALUES (?,?,?,?,?,?,?)
         ON CONFLICT (id) DO UPDATE SET matchers=excluded.matchers, starts_ms=excluded.starts_ms,
           ends_ms=excluded.ends_ms, created_by=excluded.created_by, comment=excluded.comment`,
      )
      .run(x.id, JSON.stringify(x.matchers), x.startsAtMs, x.endsAtMs, x.createdBy, x.comment, x.createdAtMs)
  }

  async deleteSilence(id: string): Promise<boolean> {
    this.#open()
    return this.#db.prepare('DELETE FROM silences WHERE id = ?').run(id).changes > 0
  }

  async listSilences(activeAtMs?: number): Promise<StoredSilence[]> {
    this.#open()
    const rows = (
      activeAtMs === undefined
        ? this.#db.prepare('SELECT * FROM silences ORDER BY created_ms DESC, id DESC').all()
        : this.#db
            .prepare('SELECT * FROM silences WHERE ends_ms >= ? ORDER BY created_ms DESC, id DESC')
            .all(activeAtMs)
    ) as SilenceRow[]
    return rows.map(rowToSilence)
  }

  async putAlertAck(a: StoredAlertAck): Promise<void> {
    this.#open()
    this.#db
      .prepare(
        `INSERT INTO alert_acks (fingerprint, starts_ms, by_name, comment, at_ms) VALUES (?,?,?,?,?)
         ON CONFLICT (fingerprint, starts_ms) DO UPDATE SET by_name=excluded.by_name,
           comment=excluded.comment, at_ms=excluded.at_ms`,
      )
      .run(a.fingerprint, a.startsAtMs, a.by, a.comment, a.atMs)
  }

  async listAlertAcks(sinceMs?: number): Promise<StoredAlertAck[]> {
    this.#open()
    const rows = this.#db
      .prepare('SELECT * FROM alert_acks WHERE at_ms >= ? ORDER BY at_ms DESC')
      .all(sinceMs ?? 0) as AckRow[]
    return rows.map(rowToAck)
  }

  /**
   * Caps the database at its current size plus `extraPages` pages (`PRAGMA max_page_count`; null
   * lifts the cap): a write beyond fails with SQLITE_FULL exactly as on a full disk, which lets
   * tests fill the store without a small filesystem to mount.
   */
  limitPages(extraPages: number | null): void {
    this.#open()
    const count = this.#db.pragma('page_count', { simple: true }) as number
    // SQLite's own maximum: 4294967294 pages
    this.#db.pragma(`max_page_count = ${extraPages === null ? 4_294_967_294 : count + extraPages}`)
  }

  /**
   * Writes the open database back to `path` after its file was deleted underneath, and goes on
   * with the file written there: nothing written before or since the deletion is lost. The
   * connection still reads the deleted file; its WAL is checkpointed into it and detached from the
   * names beside `path` first, so the new file never meets the old WAL. Refuses, changing nothing
   * at `path`, when a file is there again (`EEXIST`: never overwritten) or its folder is gone
   * (`ENOENT`); other errors are the folder's (`EACCES`, `ENOSPC`). Call again to retry.
   * @returns the size of the file written back, bytes
   */
  async restoreFile(): Promise<{ bytes: number }> {
    this.#open()
    const path = this.path
    if (path === ':memory:') throw fsError('EINVAL', 'an in-memory database has no file to restore')
    if (existsSync(path)) throw fsError('EEXIST', `${path} exists: it is not the file Vigil opened`)
    statSync(dirname(path)) // ENOENT when the folder is gone: it is not created again here
    const copy = `${path}.restoring`
    rmSync(copy, { force: true }) // a copy cut short by a crash
    // MEMORY: no WAL or rollback journal under the names beside `path`, which belong to the file
    // written back; a crash now loses the deleted file, as it would have anyway
    this.#db.pragma('wal_checkpoint(TRUNCATE)')
    this.#db.pragma('journal_mode = MEMORY')
    try {
      // writes made meanwhile through this connection are copied too (SQLite updates a running
      // backup); from its last step to the switch below no other code runs, so none is left behind
      await this.#db.backup(copy)
      if (this.#closed) throw VGL_ERR_STORE_CLOSED('sqlite')
      place(copy, path)
    } catch (err) {
      rmSync(copy, { force: true })
      // closed while copying (a stop): say so, not the driver's "connection is not open"
      throw this.#closed ? VGL_ERR_STORE_CLOSED('sqlite') : err
    }
    const old = this.#db
    let db: BetterSqlite3.Database
    try {
      db = connect(this.#Database, path)
    } catch (err) {
      // the copy stays unused: take it away so the next check sees the file gone and tries again
      rmSync(path, { force: true })
      throw err
    }
    this.#use(db)
    old.close()
    return { bytes: statSync(path).size }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#db.close()
  }
}

/** Opens the file with the store's settings. */
function connect(Database: typeof BetterSqlite3, path: string, mustExist = false): BetterSqlite3.Database {
  const db = new Database(path, { fileMustExist: mustExist })
  try {
    db.pragma('journal_mode = WAL')
    // NORMAL under WAL: a commit survives a process crash (SIGKILL); only an OS crash or power
    // loss can drop the last transactions.
    db.pragma('synchronous = NORMAL')
    db.pragma('busy_timeout = 5000')
  } catch (err) {
    db.close()
    throw err
  }
  return db
}

/** An error with a Node errno code (`EEXIST`, `ENOENT`), as fs would throw it. */
function fsError(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code })
}

/**
 * Puts the finished copy at `path` without ever replacing a file that appeared there meanwhile: a
 * hard link fails with EEXIST where a rename would overwrite. Filesystems without hard links get
 * a rename after a last look.
 */
function place(copy: string, path: string): void {
  try {
    linkSync(copy, path)
    unlinkSync(copy)
    return
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err
  }
  if (existsSync(path)) throw fsError('EEXIST', `${path} exists`)
  renameSync(copy, path)
}

function migrate(db: BetterSqlite3.Database): void {
  checkMigrationOrder(SQLITE_MIGRATIONS)
  db.exec(
    `CREATE TABLE IF NOT EXISTS schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)`,
  )
  const done = new Set(
    (db.prepare('SELECT id FROM schema_migrations').all() as { id: number }[]).map((r) => r.id),
  )
  const record = db.prepare('INSERT INTO schema_migrations (id, name, applied_ms) VALUES (?,?,?)')
  for (const m of SQLITE_MIGRATIONS) {
    if (done.has(m.id)) continue
    try {
      db.transaction(() => {
        db.exec(m.sql)
        record.run(m.id, m.name, Date.now())
      }).immediate()
    } catch (err) {
      throw VGL_ERR_STORE_MIGRATION(
        'sqlite',
        `${String(m.id).padStart(3, '0')}-${m.name}`,
        (err as Error).message,
      )
    }
  }
}
