/**
 * @module The limiter's mutable state — tiers, keys and control multipliers — as one versioned
 * document, and where it lives: a JSON file written atomically (embedded mode, propagated
 * in-process) or a Redis key plus a pub/sub channel (scaled out, propagated to every gateway as
 * soon as it is published). Config seeds the document; admin changes overlay it and persist.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Redis } from 'ioredis'
import { BUILTIN_TIERS, type LimitsConfig } from '../config/limits-schema.js'

export interface TierState {
  ratePerSec: number
  burst: number
  rank: number
}

export interface KeyState {
  id: string
  /** sha256 of the key, hex: the secret itself is never stored */
  keyHash: string
  tier: string
  ratePerSec?: number
  burst?: number
  revoked: boolean
  /** ISO time the admin API created it; null for a key from the config file, which has no such time */
  createdAt: string | null
}

/** Multipliers and defensive mode for one service only; they multiply with the global ones. */
export interface ServiceControls {
  tiers: Record<string, number>
  classes: Record<string, number>
  defensive: boolean
}

/** Who set one control entry, why, and until when. */
export interface ControlEntry {
  actor: string
  reason: string
  /** ISO time of the change that set it */
  setAt: string
  /** ISO time after which the entry no longer applies; absent: until removed */
  expiresAt?: string
}

/** Runtime control input (what the control plane drives). Multipliers scale rate and burst. */
export interface Controls {
  tiers: Record<string, number>
  classes: Record<string, number>
  clients: Record<string, number>
  defensive: boolean
  /** why the last change was made (the per-entry reasons are in `entries`) */
  reason: string
  actor: string
  updatedAt: string
  /** per-service multipliers and defensive mode (documents written before scoping have none) */
  services: Record<string, ServiceControls>
  /**
   * Per entry: who set it, why, and when it expires. Keyed by path: `tiers.STD`, `classes.low`,
   * `clients.acme`, `defensive`, `services.payments.tiers.STD`, `services.payments.defensive`.
   */
  entries: Record<string, ControlEntry>
}

export interface LimitsState {
  version: number
  tiers: Record<string, TierState>
  keys: Record<string, KeyState>
  controls: Controls
}

export { BUILTIN_TIERS } from '../config/limits-schema.js'

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

export function emptyControls(): Controls {
  return {
    tiers: {},
    classes: {},
    clients: {},
    defensive: false,
    reason: '',
    actor: '',
    updatedAt: '',
    services: {},
    entries: {},
  }
}

/** The document the config alone describes (version 0). */
export function seedState(cfg: LimitsConfig): LimitsState {
  const tiers: Record<string, TierState> = {}
  for (const [name, t] of Object.entries(BUILTIN_TIERS)) tiers[name] = { ...t }
  for (const [name, t] of Object.entries(cfg.tiers)) tiers[name] = { ...t }
  const keys: Record<string, KeyState> = {}
  for (const k of cfg.keys) {
    keys[k.id] = {
      id: k.id,
      keyHash: hashKey(k.key),
      tier: k.tier,
      ...(k.ratePerSec !== undefined ? { ratePerSec: k.ratePerSec } : {}),
      ...(k.burst !== undefined ? { burst: k.burst } : {}),
      revoked: false,
      createdAt: null,
    }
  }
  return { version: 0, tiers, keys, controls: emptyControls() }
}

/** Config seed overlaid with persisted admin changes (persisted entries win by name / id). */
export function mergeState(seed: LimitsState, persisted: LimitsState | null): LimitsState {
  if (persisted === null) return seed
  return {
    version: persisted.version,
    tiers: { ...seed.tiers, ...persisted.tiers },
    keys: { ...seed.keys, ...persisted.keys },
    controls: { ...emptyControls(), ...persisted.controls },
  }
}

export interface StateBackend {
  readonly kind: 'file' | 'redis'
  load(): Promise<LimitsState | null>
  /**
   * Compare-and-set: persists `state` only if the stored document still has version `expected`
   * (null: no document yet), atomically, and tells every instance (including this one's other
   * listeners). Resolves to false, changing nothing, when another writer got there first.
   */
  save(state: LimitsState, expected: number | null): Promise<boolean>
  onChange(listener: (state: LimitsState) => void): void
  /**
   * Called after a reconnect with the document as read then (null: there is none): a store that
   * can lose it (Redis restarted without persistence, flushed, failed over to a replica that
   * lagged) lets the instances that hold a newer one write it back.
   */
  onResync?(listener: (stored: LimitsState | null) => void): void
  close(): Promise<void>
}

// Several limiters in one process (tests, embedded mode) share a file; they hear each other here.
const fileChannels = new EventEmitter()
fileChannels.setMaxListeners(0)

/** The document in a JSON file, replaced atomically (write a temp file, then rename). */
export class FileStateBackend implements StateBackend {
  readonly kind = 'file' as const
  readonly path: string
  readonly #listeners: Array<(s: LimitsState) => void> = []
  readonly #onEvent = (s: LimitsState) => {
    for (const l of this.#listeners) l(s)
  }

  constructor(path: string) {
    this.path = path
    fileChannels.on(path, this.#onEvent)
  }

  async load(): Promise<LimitsState | null> {
    return this.#read()
  }

  #read(): LimitsState | null {
    try {
      return JSON.parse(readFileSync(this.path, 'utf8')) as LimitsState
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
  }

  /**
   * Compare, write and rename run without yielding, so writers in this process never interleave;
   * a lock file (`<path>.lock`, created exclusively) keeps out another process on the same dir.
   */
  async save(state: LimitsState, expected: number | null): Promise<boolean> {
    mkdirSync(dirname(this.path), { recursive: true })
    const unlock = await this.#lock()
    try {
      if ((this.#read()?.version ?? null) !== expected) return false
      const tmp = `${this.path}.${process.pid}.tmp`
      try {
        writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 })
        renameSync(tmp, this.path)
      } catch (err) {
        // a half-written temporary file on a full disk holds the very space that is missing
        rmSync(tmp, { force: true })
        const e = err as NodeJS.ErrnoException
        throw Object.assign(new Error(`${e.message} (writing ${this.path})`, { cause: err }), {
          code: e.code,
        })
      }
    } finally {
      unlock()
    }
    fileChannels.emit(this.path, state)
    return true
  }

  async #lock(): Promise<() => void> {
    const lock = `${this.path}.lock`
    for (let waitedMs = 0; ; waitedMs += 20) {
      try {
        closeSync(openSync(lock, 'wx', 0o600))
        return () => rmSync(lock, { force: true })
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      // a lock left by a process that died while writing: nobody holds a lock this long
      if (waitedMs >= 5_000) rmSync(lock, { force: true })
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  onChange(listener: (state: LimitsState) => void): void {
    this.#listeners.push(listener)
  }

  async close(): Promise<void> {
    fileChannels.off(this.path, this.#onEvent)
  }
}

/**
 * KEYS[1] the state key; ARGV[1] the version the writer read (-1: no document); ARGV[2] the new
 * document. Sets and publishes it only if the stored version is still ARGV[1]; returns 1, else 0.
 */
const SAVE_IF_VERSION = `
local cur = redis.call('GET', KEYS[1])
local v = -1
if cur then
  local ok, doc = pcall(cjson.decode, cur)
  if ok and type(doc) == 'table' and type(doc.version) == 'number' then v = doc.version end
end
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PUBLISH', KEYS[1], ARGV[2])
return 1
`

/** The document in a Redis key; changes are published so every gateway applies them at once. */
export class RedisStateBackend implements StateBackend {
  readonly kind = 'redis' as const
  readonly #client: Redis
  readonly #sub: Redis
  readonly #key: string
  readonly #listeners: Array<(s: LimitsState) => void> = []
  readonly #resync: Array<(s: LimitsState | null) => void> = []

  constructor(client: Redis, keyPrefix: string) {
    this.#client = client
    this.#key = `${keyPrefix}state`
    // A subscribed connection cannot run other commands, so it gets its own; it may queue while
    // reconnecting because nothing waits on it, and it retries on its own schedule (whatever the
    // main connection's) so it is back soon after Redis.
    this.#sub = client.duplicate({
      enableOfflineQueue: true,
      commandTimeout: undefined,
      maxRetriesPerRequest: null,
      retryStrategy: (times: number) => Math.min(50 * times, 500),
    })
    this.#sub.on('error', () => {})
    this.#sub.on('message', (_channel: string, message: string) => {
      try {
        this.#emit(JSON.parse(message) as LimitsState)
      } catch {
        // a foreign or truncated message on our channel: ignore it, the next one carries the whole state
      }
    })
    // After a reconnect, messages sent meanwhile are lost: re-read the document.
    this.#sub.on('ready', () => void this.#reload())
    void this.#sub.subscribe(this.#key).catch(() => {})
  }

  /**
   * Re-reads the document after this connection came back. The read goes over the main
   * connection, which may come back later and refuses commands until then (no offline queue):
   * retry while this connection stays up, or a change made during the outage is missed until the
   * next one.
   */
  async #reload(): Promise<void> {
    for (let attempt = 0; this.#sub.status === 'ready'; attempt++) {
      try {
        const s = await this.load()
        if (s !== null) this.#emit(s)
        for (const l of this.#resync) l(s)
        return
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2_000)).unref())
      }
    }
  }

  /** resolves once the subscription is live (tests wait on it so no change is missed) */
  async subscribed(): Promise<void> {
    await this.#sub.subscribe(this.#key)
  }

  async load(): Promise<LimitsState | null> {
    const raw = await this.#client.get(this.#key)
    return raw === null ? null : (JSON.parse(raw) as LimitsState)
  }

  /** One Lua call: compare the stored version, then SET and PUBLISH, atomically. */
  async save(state: LimitsState, expected: number | null): Promise<boolean> {
    const json = JSON.stringify(state)
    const done = await this.#client.eval(SAVE_IF_VERSION, 1, this.#key, String(expected ?? -1), json)
    return done === 1
  }

  onChange(listener: (state: LimitsState) => void): void {
    this.#listeners.push(listener)
  }

  onResync(listener: (stored: LimitsState | null) => void): void {
    this.#resync.push(listener)
  }

  #emit(s: LimitsState): void {
    for (const l of this.#listeners) l(s)
  }

  async close(): Promise<void> {
    this.#sub.disconnect()
  }
}
