/**
 * @module The leader lease among `vigil control` processes: one key in a NATS JetStream KV bucket
 * whose entries expire after `ttlMs` (the bucket's max age). NATS is already required when
 * control planes are scaled out (it is the bus), so the lease needs no other infrastructure.
 *
 * ```
 * follower ──every renewEveryMs: kv.create(key)──▶ taken: read who leads, stay follower
 *    │ created (the key had expired or was released)
 *    ▼
 * fence() = store.advanceFence() ─▶ leadership.lead(token) ─▶ onElected(token)
 *    │
 * leader ──every renewEveryMs: kv.update(key, revision)──▶ ok: deadline = sent + ttl × 0.8
 *    │ wrong revision (someone else holds it), or no renewal before the deadline
 *    ▼
 * leadership.follow() ─▶ onDeposed(reason)                      stop(): release (delete) at once
 * ```
 *
 * A leader judges its lease by its own monotonic clock: the deadline counts from *before* the
 * renewal was sent, so the key can only expire on the server after it. A process paused past its
 * deadline finds itself deposed when it wakes; a write it had already started is refused by the
 * store's fence, which the successor raised before acting.
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { VGL_ERR_CONTROL_LEASE } from '../errors.js'
import { FencedLeadership, STOPPING, type LeaderInfo } from './leadership.js'

export interface NatsLeaseOptions {
  /** comma-separated host:port list */
  servers: string
  /** KV bucket; one per deployment (default in config: `<bus.streamPrefix>_LEADER`) */
  bucket: string
  /** key inside the bucket; default `control` */
  key?: string
  /** identity of this process; default `host:pid:random` */
  holder?: string
  /** the lease lives this long without a renewal; default 5,000 ms */
  ttlMs?: number
  /** renew (leader) or try to take (follower) this often; default ttlMs / 5 */
  renewEveryMs?: number
  /** the new leader's fencing token: `store.advanceFence()` */
  fence: () => Promise<number>
  /** this process leads now (leadership already holds `token`): start acting */
  onElected: (token: number) => Promise<void>
  /** this process no longer leads: stop acting */
  onDeposed: (reason: string) => Promise<void>
  onError?: (err: Error, what: string) => void
}

const renewMargin = 0.8

export class NatsLease {
  readonly leadership: FencedLeadership
  readonly holder: string
  readonly #o: Required<Omit<NatsLeaseOptions, 'onError' | 'holder' | 'key'>> &
    Pick<NatsLeaseOptions, 'onError'> & { key: string }
  readonly #nc: NatsConnection
  readonly #kv: KV
  #revision: number | null = null
  /** one per lease acquired: an election queued behind a lost lease must not run */
  #term = 0
  #deadline = 0
  #sinceMs = 0
  #token: number | null = null
  #adminUrl: string | null = null
  #timer: NodeJS.Timeout | null = null
  #transitions: Promise<void> = Promise.resolve()
  #stopped = false
  /** follower ticks skipped after a failed election (the store was down): do not flap */
  #backoff = 0
  readonly stats = { elected: 0, deposed: 0, renewErrors: 0 }

  private constructor(nc: NatsConnection, kv: KV, opts: NatsLeaseOptions) {
    this.#nc = nc
    this.#kv = kv
    const ttlMs = opts.ttlMs ?? 5_000
    this.holder = opts.holder ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
    this.#o = {
      ttlMs,
      renewEveryMs: opts.renewEveryMs ?? Math.max(100, Math.floor(ttlMs / 5)),
      ...opts,
      key: opts.key ?? 'control',
    }
    this.leadership = new FencedLeadership(() => performance.now() < this.#deadline)
  }

  /** Connects to NATS and opens (creating when missing) the lease bucket. Does not campaign yet. */
  static async connect(opts: NatsLeaseOptions): Promise<NatsLease> {
    const { connect } = await import('@nats-io/transport-node')
    const { Kvm } = await import('@nats-io/kv')
    const servers = opts.servers.split(',').map((s) => s.trim())
    let nc: NatsConnection
    try {
      nc = await connect({
        servers,
        name: 'vigil-control-lease',
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
      })
    } catch (err) {
      throw VGL_ERR_CONTROL_LEASE(
        opts.bucket,
        `cannot connect to ${servers.join(',')}: ${(err as Error).message}`,
      )
    }
    try {
      const kvm = new Kvm(nc)
      const ttl = opts.ttlMs ?? 5_000
      // create is idempotent for an identical config; a bucket made with another ttl is opened as it is
      const kv = await kvm.create(opts.bucket, { ttl, history: 1 }).catch(() => kvm.open(opts.bucket))
      await kv.status()
      return new NatsLease(nc, kv, opts)
    } catch (err) {
      await nc.close().catch(() => {})
      throw VGL_ERR_CONTROL_LEASE(opts.bucket, (err as Error).message)
    }
  }

  /** Starts campaigning: takes the lease when free, renews it while held. */
  start(): void {
    if (this.#timer !== null || this.#stopped) return
    const loop = async () => {
      await this.#tick().catch((err: Error) => this.#o.onError?.(err, 'leader lease'))
      if (!this.#stopped) this.#timer = setTimeout(() => void loop(), this.#o.renewEveryMs)
    }
    void loop()
  }

  /** The admin URL published with the lease, so followers can point clients at the leader. */
  setAdminUrl(url: string): void {
    this.#adminUrl = url
    // elected before its admin API listened, the leader would go on naming itself without it
    const own = this.leadership.leader()
    if (this.#token !== null && own?.holder === this.holder)
      this.leadership.lead(this.#token, { ...own, adminUrl: url })
  }

  /**
   * Stops renewing and closes the connection without giving the lease back: what a crash looks
   * like to the other processes (tests).
   */
  async abandon(): Promise<void> {
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    await this.#nc.close().catch(() => {})
  }

  /** Resolves once pending elections and depositions have run (tests). */
  settled(): Promise<void> {
    return this.#transitions
  }

  #value(): string {
    const info: LeaderInfo = {
      holder: this.holder,
      adminUrl: this.#adminUrl,
      sinceMs: this.#sinceMs,
      fencingToken: this.#token,
    }
    return JSON.stringify(info)
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return
    const sentAt = performance.now()
    if (this.#revision !== null) {
      try {
        this.#revision = await this.#kv.update(this.#o.key, this.#value(), this.#revision)
        this.#deadline = sentAt + this.#o.ttlMs * renewMargin
      } catch (err) {
        this.stats.renewErrors++
        if (/wrong last sequence/i.test((err as Error).message))
          this.#lose('another control plane holds the lease')
        else if (performance.now() >= this.#deadline)
          this.#lose(`the lease was not renewed in time: ${(err as Error).message}`)
      }
      return
    }
    if (this.#backoff > 0) {
      this.#backoff--
      return
    }
    try {
      this.#sinceMs = Date.now()
      this.#token = null
      this.#revision = await this.#kv.create(this.#o.key, this.#value())
      this.#deadline = sentAt + this.#o.ttlMs * renewMargin
      this.#term++
    } catch {
      await this.#readLeader()
      return
    }
    this.#elect()
  }

  async #readLeader(): Promise<void> {
    try {
      const e = await this.#kv.get(this.#o.key)
      const info = e !== null && e.operation === 'PUT' ? (e.json() as LeaderInfo) : null
      this.leadership.follow(info)
    } catch {
      this.leadership.follow(null)
    }
  }

  #elect(): void {
    const term = this.#term
    this.#transitions = this.#transitions.then(async () => {
      if (this.#term !== term || this.#revision === null) return // lost meanwhile
      let token: number
      try {
        token = await this.#o.fence()
      } catch (err) {
        this.#o.onError?.(
          err as Error,
          'leader lease: no fencing token from the store; giving the lease back',
        )
        await this.#release()
        this.#backoff = 3
        return
      }
      if (this.#term !== term || this.#revision === null) return
      this.#token = token
      this.stats.elected++
      this.leadership.lead(token, {
        holder: this.holder,
        adminUrl: this.#adminUrl,
        sinceMs: this.#sinceMs,
        fencingToken: token,
      })
      try {
        await this.#o.onElected(token)
      } catch (err) {
        // could not start acting: let another process try rather than hold a lease and do nothing
        this.#o.onError?.(err as Error, 'leader lease: could not start leading; giving the lease back')
        await this.#release()
        this.stats.deposed++
        await this.#o.onDeposed('could not start leading').catch(() => {})
        this.#backoff = 3
      }
    })
  }

  #lose(reason: string): void {
    this.#revision = null
    this.#deadline = 0
    this.#token = null
    this.leadership.follow(null)
    this.stats.deposed++
    this.#transitions = this.#transitions.then(() =>
      this.#o.onDeposed(reason).catch((err: Error) => this.#o.onError?.(err, 'onDeposed')),
    )
  }

  async #release(): Promise<void> {
    const rev = this.#revision
    this.#revision = null
    this.#deadline = 0
    this.#token = null
    this.leadership.follow(null)
    if (rev !== null) await this.#kv.delete(this.#o.key, { previousSeq: rev }).catch(() => {})
  }

  /**
   * Stops campaigning. A leader stops acting first (onDeposed), then releases the lease so a
   * follower takes over at its next try instead of after the ttl. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    await this.#transitions
    if (this.#revision !== null) {
      this.leadership.follow(null)
      this.stats.deposed++
      await this.#o.onDeposed(STOPPING).catch((err: Error) => this.#o.onError?.(err, 'onDeposed'))
      await this.#release()
    }
    await this.#nc.close().catch(() => {})
  }
}
