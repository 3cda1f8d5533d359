/**
 * @module `StoreWatch`: notices when the store cannot be written (disk full, read-only, database
 * file deleted or replaced underneath) and says so once, with the path and the fix, instead of one
 * error line per failed write; says so again once writes succeed. The control plane keeps
 * retrying what the bus redelivers (rollups, spans, audit events), and what it derives itself
 * waits in a `StoreBacklog` the watch drains when the store is back. A deleted SQLite file is
 * written back from the open database, with nothing lost and no restart.
 *
 * ```
 * control plane ─▶ watch.store (a Proxy) ─▶ Store
 *                     │ unwritable error: rethrown as VGL_ERR_STORE_UNWRITABLE, counted
 *                     │ first one: onDown(err) · first success after: onUp(...), backlog drained
 *                     └─▶ status() ─▶ GET /health `store`
 * checkFile() every 5 s: deleted ─▶ restoreFile() ─▶ onFileBack(...)  (fails: onDown, retried)
 *                        replaced ─▶ onDown (never overwritten)
 * ```
 */
import { statSync, type Stats } from 'node:fs'
import { dirname } from 'node:path'
import {
  isVigilError,
  VGL_ERR_STORE_CLOSED,
  VGL_ERR_STORE_FILE_GONE,
  VGL_ERR_STORE_UNWRITABLE,
  type VigilError,
} from '../errors.js'
import type { Store } from '../store/index.js'
import type { StoreBacklog } from './store-backlog.js'

/** How often the control plane checks that the SQLite file is still the one it opened. */
export const FILE_CHECK_MS = 5_000

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
  /** writes that failed since then (retried, or held in the backlog) */
  failedWrites: number
  /** records held for the store (anomaly, forecast and alert events, graph rows), written once it takes writes */
  waiting: number
  /** records dropped since the start because more than the backlog's maximum waited */
  droppedRecords: number
  /** the last time the deleted database file was written back from the open database, and its size */
  restored: { atMs: number; bytes: number } | null
}

export interface StoreWatchOptions {
  store: Store
  /** the SQLite file (`:memory:` or absent: nothing to check on disk) */
  path?: string
  /** the first failure of an outage (once) */
  onDown: (err: VigilError) => void
  /**
   * the first successful write after an outage; `held`: records of the backlog about to be
   * written, `dropped`: those dropped during the outage
   */
  onUp: (x: { downForMs: number; failedWrites: number; held: number; dropped: number }) => void
  /** held records: drained once the store takes writes again, counted in status() */
  backlog?: StoreBacklog
  /** writes the deleted SQLite file back from the open database (`SqliteStore.restoreFile`) */
  restoreFile?: () => Promise<{ bytes: number }>
  /** the file at the path is the store's again: written back (`restoredBytes`) or put back (null) */
  onFileBack?: (x: { restoredBytes: number | null; goneForMs: number }) => void
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
  #droppedBefore = 0
  #file: Stats | null = null
  #checking = false
  #restored: StoreCondition['restored'] = null
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
      this.#droppedBefore = this.#o.backlog?.dropped ?? 0
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
    const b = this.#o.backlog
    this.#o.onUp({
      downForMs,
      failedWrites,
      held: b?.waiting ?? 0,
      dropped: (b?.dropped ?? 0) - this.#droppedBefore,
    })
    void b?.drain()
  }

  /**
   * Checks that the SQLite file at the path is still the one open. Deleted underneath, the
   * connection would go on writing to the unlinked file and lose it all at exit: with
   * `restoreFile` the open database is written back to the path at once, nothing lost; without,
   * or while that fails (its folder gone or refusing), it is reported and tried again on the next
   * check. A file put in its place is never overwritten: reported until it is moved away (then
   * the store's own is written back) or Vigil restarts (then that file is used).
   */
  async checkFile(): Promise<void> {
    if (this.#file === null || this.#checking) return
    this.#checking = true
    try {
      await this.#checkFile(this.#file)
    } finally {
      this.#checking = false
    }
  }

  async #checkFile(opened: Stats): Promise<void> {
    let now: Stats | null = null
    try {
      now = statSync(this.#where)
    } catch (err) {
      // anything but ENOENT (a folder no longer searchable) tells nothing about the file
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return
    }
    if (now !== null && now.ino === opened.ino && now.dev === opened.dev) {
      if (this.#gone !== null) this.#back(null) // the original was put back
      return
    }
    if (now !== null) return this.#goneFile('replaced by another file', this.#replacedFix())
    const restore = this.#o.restoreFile
    if (restore === undefined)
      return this.#goneFile(
        'deleted',
        'restart Vigil: it creates a new database at store.path (or put the original file back first); to reclaim space shorten store.retention instead of deleting the file',
      )
    let bytes: number
    try {
      bytes = (await restore()).bytes
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === VGL_ERR_STORE_CLOSED.code) return // stopping: nothing to report
      if (code === 'EEXIST') return this.#goneFile('replaced by another file', this.#replacedFix())
      const dir = dirname(this.#where)
      return this.#goneFile(
        'deleted',
        code === 'ENOENT'
          ? `its folder ${dir} is gone too: create it again (mkdir -p ${dir}) and Vigil writes the open database back into it on its next check (every ${FILE_CHECK_MS / 1000} s), losing nothing; a restart before that loses everything stored`
          : `Vigil cannot write the open database back to ${this.#where} (${(err as Error).message}): make ${dir} writable or free space on its disk, and Vigil retries on its next check (every ${FILE_CHECK_MS / 1000} s), losing nothing; a restart before that loses everything stored`,
      )
    }
    try {
      this.#file = statSync(this.#where)
    } catch {
      return // deleted again already: the next check writes it back again
    }
    this.#restored = { atMs: this.#now(), bytes }
    this.#back(bytes)
  }

  #replacedFix(): string {
    return `another file is at ${this.#where} now and Vigil never overwrites it: restart Vigil to use that file (the database Vigil has open is then lost, unless its file was moved rather than deleted), or move it away and Vigil writes its own database back to ${this.#where} on its next check (every ${FILE_CHECK_MS / 1000} s), losing nothing`
  }

  /** Reports the file gone; again only when what is wrong changes (the folder back, a file in the way). */
  #goneFile(how: string, fix: string): void {
    const e = VGL_ERR_STORE_FILE_GONE(this.#where, how)
    e.fix = fix
    if (this.#gone !== null && this.#gone.err.message === e.message && this.#gone.err.fix === fix) return
    this.#gone = { err: e, sinceMs: this.#gone?.sinceMs ?? this.#now() }
    this.#o.onDown(e)
  }

  #back(restoredBytes: number | null): void {
    const goneForMs = this.#gone === null ? 0 : this.#now() - this.#gone.sinceMs
    this.#gone = null
    if (this.#down === null) this.#failed = 0
    this.#o.onFileBack?.({ restoredBytes, goneForMs })
    void this.#o.backlog?.drain()
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
      waiting: this.#o.backlog?.waiting ?? 0,
      droppedRecords: this.#o.backlog?.dropped ?? 0,
      restored: this.#restored,
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
