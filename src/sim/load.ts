/**
 * @module The load generator behind `vigil load` and `vigil demo`: open loop (requests leave on
 * the pattern's schedule whether or not earlier ones have answered, as real users do), bounded
 * (at most `concurrency` in flight; a request due while the bound is reached is counted as
 * `dropped`, never queued), and it never runs past its duration: at the end every in-flight
 * request is aborted and counted as `aborted`.
 *
 * Latencies go into a DDSketch (1 % relative accuracy) so a long run needs constant memory.
 */
import { DDSketch } from '@datadog/sketches-js'
import { setMaxListeners } from 'node:events'
import { Pool } from 'undici'
import { VGL_ERR_SIM_TARGET } from '../errors.js'
import { seededRandom } from './latency.js'
import { defaultKeys, pickKey, rateAt, type LoadPattern } from './patterns.js'

export interface LoadOptions {
  /** http:// URL; its path is requested unless `paths` is given */
  target: string
  pattern?: LoadPattern
  /** requests per second (the peak for `diurnal`, the base for `spike`) */
  rps: number
  durationMs: number
  /** sent as `X-API-Key`; `abusive` without keys uses key-01 … key-10 */
  keys?: readonly string[]
  /** most requests in flight at once; default max(16, peak rate × 1 s), at most 1024 */
  concurrency?: number
  /** paths on the target's origin to spread requests over (uniformly) */
  paths?: readonly string[]
  method?: string
  /** request body size in bytes for each request (0: none) */
  bodyBytes?: number
  /** ends the run early (Ctrl-C); in-flight requests are aborted as at the normal end */
  signal?: AbortSignal
  onProgress?: (progress: LoadProgress) => void
  progressIntervalMs?: number
  seed?: number
}

export interface LoadProgress {
  elapsedMs: number
  sent: number
  completed: number
  inFlight: number
  failed: number
  dropped: number
  /** what the pattern asks for right now */
  targetRps: number
  /** responses per second over the last progress interval */
  currentRps: number
  /** responses by status since the start of the run */
  statusCounts: Readonly<Record<string, number>>
  /** latency of the responses in the last progress interval (0 when none) */
  intervalLatencyMs: { p50: number; p99: number }
}

export interface LoadSummary {
  target: string
  pattern: LoadPattern
  durationMs: number
  sent: number
  /** requests that got a full response (any status) */
  completed: number
  /** requests that failed without a response (reset, refused, timeout), by error code */
  failed: number
  failures: Record<string, number>
  /** in flight at the end of the run, aborted */
  aborted: number
  /** due while `concurrency` requests were in flight, never sent */
  dropped: number
  /** completed per second over the run */
  achievedRps: number
  /** by status code, e.g. { "200": 950, "503": 50 } */
  statusCounts: Record<string, number>
  latencyMs: { p50: number; p95: number; p99: number; max: number }
}

const TICK_MS = 5
// After an event-loop stall, catch up with at most this much of the schedule at once.
const MAX_BACKLOG_S = 0.25

class LoadRun {
  readonly #opts: LoadOptions
  readonly #pattern: LoadPattern
  readonly #pool: Pool
  readonly #paths: readonly string[]
  readonly #keys: readonly string[]
  readonly #concurrency: number
  readonly #random: () => number
  readonly #abort = new AbortController()
  readonly #sketch = new DDSketch({ relativeAccuracy: 0.01 })
  #intervalSketch: DDSketch | null = null
  readonly #statusCounts: Record<string, number> = {}
  readonly #failures: Record<string, number> = {}
  readonly #inFlight = new Set<Promise<void>>()
  readonly #body: Buffer | null
  #start = 0
  #lastTick = 0
  #due = 0
  #sent = 0
  #completed = 0
  #failed = 0
  #aborted = 0
  #dropped = 0
  #max = 0
  #lastProgressAt = 0
  #lastProgressCompleted = 0
  #done = false

  constructor(opts: LoadOptions, origin: string, defaultPath: string) {
    this.#opts = opts
    this.#pattern = opts.pattern ?? 'steady'
    const peak = this.#pattern === 'spike' ? opts.rps * 5 : opts.rps
    this.#concurrency = Math.max(
      1,
      Math.floor(opts.concurrency ?? Math.min(1024, Math.max(16, Math.ceil(peak)))),
    )
    this.#pool = new Pool(origin, { connections: this.#concurrency, pipelining: 1 })
    this.#paths = opts.paths !== undefined && opts.paths.length > 0 ? opts.paths : [defaultPath]
    this.#keys =
      opts.keys !== undefined && opts.keys.length > 0
        ? opts.keys
        : this.#pattern === 'abusive'
          ? defaultKeys()
          : []
    this.#random = opts.seed === undefined ? Math.random : seededRandom(opts.seed)
    // Every in-flight request listens on the one end-of-run signal.
    setMaxListeners(0, this.#abort.signal)
    if (opts.onProgress !== undefined) this.#intervalSketch = new DDSketch({ relativeAccuracy: 0.01 })
    this.#body =
      opts.bodyBytes !== undefined && opts.bodyBytes > 0 ? Buffer.alloc(opts.bodyBytes, 0x62) : null
  }

  async run(): Promise<LoadSummary> {
    this.#start = performance.now()
    this.#lastTick = this.#start
    this.#lastProgressAt = this.#start
    const { durationMs, signal } = this.#opts
    await new Promise<void>((resolve) => {
      const finish = () => {
        if (this.#done) return
        this.#done = true
        clearTimeout(endTimer)
        clearTimeout(tickTimer)
        signal?.removeEventListener('abort', finish)
        resolve()
      }
      const endTimer = setTimeout(finish, durationMs)
      const tick = (): void => {
        if (this.#done) return
        if (this.#tick() >= durationMs) return finish()
        tickTimer = setTimeout(tick, TICK_MS)
      }
      let tickTimer: NodeJS.Timeout = setTimeout(tick, 0)
      if (signal?.aborted) finish()
      else signal?.addEventListener('abort', finish, { once: true })
    })
    const elapsedMs = performance.now() - this.#start
    this.#abort.abort()
    await Promise.allSettled([...this.#inFlight])
    await this.#pool.destroy().catch(() => undefined)
    return this.#summary(elapsedMs)
  }

  #tick(): number {
    const now = performance.now()
    const elapsed = now - this.#start
    const rate = rateAt(this.#pattern, this.#opts.rps, elapsed, this.#opts.durationMs)
    this.#due = Math.min(
      this.#due + (rate * (now - this.#lastTick)) / 1000,
      Math.max(1, rate * MAX_BACKLOG_S),
    )
    this.#lastTick = now
    while (this.#due >= 1) {
      this.#due -= 1
      if (this.#inFlight.size >= this.#concurrency) this.#dropped++
      else this.#send()
    }
    const every = this.#opts.progressIntervalMs ?? 1000
    if (this.#opts.onProgress !== undefined && now - this.#lastProgressAt >= every) {
      const currentRps =
        ((this.#completed - this.#lastProgressCompleted) * 1000) / (now - this.#lastProgressAt)
      this.#lastProgressAt = now
      this.#lastProgressCompleted = this.#completed
      const sk = this.#intervalSketch
      const intervalLatencyMs =
        sk === null || sk.count === 0
          ? { p50: 0, p99: 0 }
          : { p50: round(sk.getValueAtQuantile(0.5)), p99: round(sk.getValueAtQuantile(0.99)) }
      this.#intervalSketch = new DDSketch({ relativeAccuracy: 0.01 })
      this.#opts.onProgress({
        elapsedMs: elapsed,
        sent: this.#sent,
        completed: this.#completed,
        inFlight: this.#inFlight.size,
        failed: this.#failed,
        dropped: this.#dropped,
        targetRps: rate,
        currentRps,
        statusCounts: { ...this.#statusCounts },
        intervalLatencyMs,
      })
    }
    return elapsed
  }

  #send(): void {
    this.#sent++
    const path =
      this.#paths.length === 1 ? this.#paths[0] : this.#paths[Math.floor(this.#random() * this.#paths.length)]
    const key = pickKey(this.#pattern, this.#keys, this.#random())
    const headers: Record<string, string> = {}
    if (key !== null) headers['x-api-key'] = key
    const p = this.#request(path, headers)
    this.#inFlight.add(p)
    void p.finally(() => this.#inFlight.delete(p))
  }

  async #request(path: string, headers: Record<string, string>): Promise<void> {
    const t0 = performance.now()
    try {
      const res = await this.#pool.request({
        path,
        method: (this.#opts.method ?? (this.#body === null ? 'GET' : 'POST')) as 'GET',
        headers,
        body: this.#body,
        signal: this.#abort.signal,
      })
      // Read to the end so latency covers the whole response, as a client sees it.
      for await (const _chunk of res.body) void _chunk
      const ms = performance.now() - t0
      this.#completed++
      const code = String(res.statusCode)
      this.#statusCounts[code] = (this.#statusCounts[code] ?? 0) + 1
      this.#sketch.accept(ms)
      this.#intervalSketch?.accept(ms)
      if (ms > this.#max) this.#max = ms
    } catch (err) {
      if (this.#abort.signal.aborted) {
        this.#aborted++
        return
      }
      this.#failed++
      const code = (err as { code?: string }).code ?? (err as Error).name ?? 'Error'
      this.#failures[code] = (this.#failures[code] ?? 0) + 1
    }
  }

  #summary(elapsedMs: number): LoadSummary {
    const empty = this.#sketch.count === 0
    const q = (p: number) => (empty ? 0 : round(this.#sketch.getValueAtQuantile(p)))
    return {
      target: this.#opts.target,
      pattern: this.#pattern,
      durationMs: Math.round(elapsedMs),
      sent: this.#sent,
      completed: this.#completed,
      failed: this.#failed,
      failures: { ...this.#failures },
      aborted: this.#aborted,
      dropped: this.#dropped,
      achievedRps: elapsedMs > 0 ? round((this.#completed * 1000) / elapsedMs) : 0,
      statusCounts: { ...this.#statusCounts },
      latencyMs: { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: round(this.#max) },
    }
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

/**
 * Runs one bounded load run and resolves to its summary when the duration is over.
 * @example
 * const s = await runLoad({ target: 'http://127.0.0.1:8080/orders', pattern: 'diurnal', rps: 50, durationMs: 10_000 })
 * console.log(s.achievedRps, s.statusCounts, s.latencyMs.p99)
 */
export async function runLoad(opts: LoadOptions, flagName = 'target'): Promise<LoadSummary> {
  let url: URL
  try {
    url = new URL(opts.target)
  } catch {
    throw VGL_ERR_SIM_TARGET(flagName, opts.target)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw VGL_ERR_SIM_TARGET(flagName, opts.target)
  if (!(opts.rps > 0)) throw VGL_ERR_SIM_TARGET('rps (must be > 0)', String(opts.rps))
  return new LoadRun(opts, url.origin, `${url.pathname}${url.search}`).run()
}

/** Formats a summary for people: one block of lines. */
export function formatSummary(s: LoadSummary): string {
  const statuses =
    Object.entries(s.statusCounts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ') || 'none'
  const failures = Object.entries(s.failures)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ')
  return [
    `target      ${s.target} (${s.pattern}, ${(s.durationMs / 1000).toFixed(1)} s)`,
    `sent        ${s.sent} (completed ${s.completed}, failed ${s.failed}, aborted at end ${s.aborted}, dropped at the concurrency bound ${s.dropped})`,
    `rate        ${s.achievedRps.toFixed(1)} responses/s`,
    `statuses    ${statuses}`,
    ...(failures ? [`failures    ${failures}`] : []),
    s.completed === 0
      ? 'latency ms  none (no response)'
      : `latency ms  p50 ${s.latencyMs.p50.toFixed(1)}  p95 ${s.latencyMs.p95.toFixed(1)}  p99 ${s.latencyMs.p99.toFixed(1)}  max ${s.latencyMs.max.toFixed(1)}`,
  ].join('\n')
}
