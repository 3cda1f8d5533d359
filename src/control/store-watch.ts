/**
 * @module `StoreWatch`: notices when the store cannot be written (disk full, read-only, database
 * file deleted underneath) and says so once, with the path and the fix, instead of one error line
 * per failed write; says so again once writes succeed. The control plane keeps retrying what the
 * bus redelivers (rollups, spans, audit events), so the watch only reports and counts.
 *
 * ```
 * control plane ─▶ watch.store (a Proxy) ─▶ Store
 *                     │ unwritable error: rethrown as VGL_ERR_STORE_UNWRITABLE, counted
 *                     │ first one: onDown(err) · first success after: onUp(...)
 *                     └─▶ status() ─▶ GET /health `store`
 * ```
 */
import { statSync, type Stats } from 'node:fs'
import { dirname } from 'node:path'
import {
  isVigilError,
  VGL_ERR_STORE_FILE_GONE,
  VGL_ERR_STORE_UNWRITABLE,
  type VigilError,
} from '../errors.js'
import type { Store } from '../store/index.js'

/** What `GET /health` shows of the store (`ok: false` with the code, message and fix while it fails). */
export interface StoreCondition {
  ok: boolean
  kind: Store['kind']
  /** the SQLite file, or `postgres` */
  path: string
  code: string | null
  message: string | null
  fix: string | null
  /** since when it fails (ms since the epoch) */
  sinceMs: number | null
  /** writes that failed since then (retried or, for event records, dropped) */
  failedWrites: number
}

export interface StoreWatchOptions {
  store: Store
  /** the SQLite file (`:memory:` or absent: nothing to check on disk) */
  path?: string
  /** the first failure of an outage (once) */
  onDown: (err: VigilError) => void
  /** the first successful write after an outage */
  onUp: (x: { downForMs: number; failedWrites: number }) => void
  now?: () => number
}

/** Store methods that write: one of them succeeding means the store takes writes again. */
const WRITES = new Set<string>([
  'writeWindow',
  'writeSpans',
  'writeGraphRows',
  'appendEvents',
  'appendAudit',
  'appendActions',
  'settleAction',
  'putControlState',
  'putSilence',
  'deleteSilence',
  'putAlertAck',
  'advanceFence',
  'downsample',
  'prune',
])

/** SQLite result codes (better-sqlite3 `err.code`), errno names and PostgreSQL SQLSTATEs of a store that cannot write. */
const UNWRITABLE =
  /^(SQLITE_FULL|SQLITE_IOERR.*|SQLITE_READONLY.*|SQLITE_CANTOPEN|ENOSPC|EDQUOT|EROFS|EACCES|EPERM|EIO|53100|25006)$/

/** True for an error that says the store's disk or file refuses writes (not a bug, not a fence). */
export function isUnwritable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && UNWRITABLE.test(code)
}

export class StoreWatch {
  readonly #o: StoreWatchOptions
  readonly #now: () => number
  readonly #where: string
  #down: { err: VigilError; sinceMs: number } | null = null
  #gone: { err: VigilError; sinceMs: number } | null = null
  #failed = 0
  #file: Stats | null = null
  /** the store to hand to everything that writes */
  readonly store: Store

  constructor(opts: StoreWatchOptions) {
    this.#o = opts
    this.#now = opts.now ?? Date.now
    const file = opts.path !== undefined && opts.path !== ':memory:' ? opts.path : null
    this.#where = file ?? opts.store.kind
    if (file !== null) {
      try {
        this.#file = statSync(file)
      } catch {
        this.#file = null
      }
    }
    const target = opts.store
    this.store = new Proxy(target, {
      get: (t, prop, receiver) => {
        const v: unknown = Reflect.get(t, prop, receiver)
        if (typeof v !== 'function' || typeof prop !== 'string' || prop === 'close') return v
        const fn = v as (...args: unknown[]) => unknown
        const write = WRITES.has(prop)
        return (...args: unknown[]) => {
          let r: unknown
          try {
            r = fn.apply(t, args)
          } catch (err) {
            throw this.#fail(err)
          }
          // every Store method is async; an adapter's own synchronous helpers pass through as they are
          if (!(r instanceof Promise)) return r
          return r.then(
            (value: unknown) => {
              if (write) this.#ok()
              return value
            },
            (err: unknown) => {
              throw this.#fail(err)
            },
          )
        }
      },
    })
  }

  #fail(err: unknown): unknown {
    if (!isUnwritable(err)) return err
    this.#failed++
    const code = (err as { code: string }).code
    const e = VGL_ERR_STORE_UNWRITABLE(this.#o.store.kind, this.#where, `${(err as Error).message} (${code})`)
    e.fix =
      this.#o.store.kind === 'sqlite'
        ? `free space on the disk that holds ${dirname(this.#where)} (or make it writable again), or move store.path to a larger disk and restart; meanwhile Vigil keeps proxying, holds the telemetry not yet written (up to control.maxInFlight rollups) and retries`
        : 'free space on the PostgreSQL server (or make the database writable again); meanwhile Vigil keeps proxying, holds the telemetry not yet written and retries'
    if (this.#down === null) {
      this.#down = { err: e, sinceMs: this.#now() }
      this.#o.onDown(e)
    }
    return e
  }

  #ok(): void {
    if (this.#down === null) return
    const downForMs = this.#now() - this.#down.sinceMs
    this.#down = null
    const failedWrites = this.#failed
    if (this.#gone === null) this.#failed = 0
    this.#o.onUp({ downForMs, failedWrites })
  }

  /**
   * Checks that the SQLite file is still the one opened: deleted or replaced underneath, the
   * connection keeps writing to the old (unlinked) file and everything written is lost at exit,
   * silently. Reported once; only a restart opens the new file.
   */
  checkFile(): void {
    if (this.#file === null || this.#gone !== null) return
    let how: string | null = null
    try {
      const now = statSync(this.#where)
      if (now.ino !== this.#file.ino || now.dev !== this.#file.dev) how = 'replaced by another file'
    } catch (err) {
      how = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'deleted' : null
    }
    if (how === null) return
    const e = VGL_ERR_STORE_FILE_GONE(this.#where, how)
    e.fix =
      'restart Vigil: it creates a new database at store.path (or put the original file back first); to reclaim space shorten store.retention instead of deleting the file'
    this.#gone = { err: e, sinceMs: this.#now() }
    this.#o.onDown(e)
  }

  status(): StoreCondition {
    const bad = this.#gone ?? this.#down
    return {
      ok: bad === null,
      kind: this.#o.store.kind,
      path: this.#where,
      code: bad?.err.code ?? null,
      message: bad?.err.message ?? null,
      fix: bad?.err.fix ?? null,
      sinceMs: bad?.sinceMs ?? null,
      failedWrites: bad === null ? 0 : this.#failed,
    }
  }
}

/** The errors the watch already reported once (callers drop the repeats). */
export function reportedByWatch(err: unknown): boolean {
  return (
    isVigilError(err) &&
    (err.code === VGL_ERR_STORE_UNWRITABLE.code || err.code === VGL_ERR_STORE_FILE_GONE.code)
  )
}
