/**
 * @module ProcessActuator: replicas are local processes of a command with `PORT` set (and `$PORT`
 * in its arguments replaced), e.g. `vigil mock --port $PORT`. A replica joins the gateway's pool
 * only once its health check answers 2xx; one that never does is killed and never pooled. A
 * replica leaves the pool first, is drained (the pool resolves once its requests finished), then
 * gets SIGTERM and, after `stopGraceMs`, SIGKILL.
 *
 * ```
 * scaleTo up:   free port ─▶ spawn ─▶ poll GET healthPath ─2xx─▶ pool += url
 *                                     └─ exit / timeout ──▶ kill, VGL_ERR_SCALE_UNHEALTHY
 * scaleTo down: pool -= url ─▶ drained ─▶ SIGTERM ─(stopGraceMs)─▶ SIGKILL
 * restart:      for each replica: start a new one (healthy, pooled) ─▶ remove the old one as above
 * close:        pool = configured targets ─▶ drained ─▶ every replica stopped as above
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import {
  VGL_ERR_SCALE_ACTUATOR,
  VGL_ERR_SCALE_REQUEST,
  VGL_ERR_SCALE_UNHEALTHY,
  VGL_ERR_SCALE_UNKNOWN_SERVICE,
} from '../../errors.js'
import {
  KeyedQueue,
  type Actuator,
  type Replica,
  type RestartResult,
  type ScaleResult,
  type TargetPool,
} from '../actuator.js'

export interface ProcessServiceOptions {
  /** the program and its arguments; `$PORT` / `${PORT}` in an argument become the replica's port */
  command: readonly string[]
  /** extra environment (PORT is always set) */
  env?: Readonly<Record<string, string>>
  /** default 127.0.0.1 */
  host?: string
  /** default /health */
  healthPath?: string
  /** how long a new replica has to answer its health check with 2xx (default 30 s) */
  startTimeoutMs?: number
  /** between health polls (default 200 ms) */
  healthIntervalMs?: number
  /** from SIGTERM to SIGKILL (default 10 s) */
  stopGraceMs?: number
}

export interface ProcessActuatorOptions {
  services: Readonly<Record<string, ProcessServiceOptions>>
  pool: TargetPool
  /** called with a replica's stderr lines (default: dropped) */
  onOutput?: (service: string, id: string, line: string) => void
}

interface Running {
  id: string
  port: number
  url: string
  child: ChildProcess
  startedAtMs: number
  exited: Promise<number | null>
}

async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, host, () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class ProcessActuator implements Actuator {
  readonly kind = 'process' as const
  readonly #o: ProcessActuatorOptions
  readonly #running = new Map<string, Running[]>()
  readonly #queue = new KeyedQueue()
  #closed = false

  constructor(opts: ProcessActuatorOptions) {
    for (const [name, svc] of Object.entries(opts.services))
      if (svc.command.length === 0)
        throw VGL_ERR_SCALE_REQUEST(
          `services.${name}.scale.process.command: expected the program and its arguments`,
        )
    this.#o = opts
    for (const name of Object.keys(opts.services)) this.#running.set(name, [])
  }

  services(): readonly string[] {
    return Object.keys(this.#o.services)
  }

  #list(service: string): Running[] {
    const list = this.#running.get(service)
    if (list === undefined)
      throw VGL_ERR_SCALE_UNKNOWN_SERVICE(service, this.kind, this.services().join(', ') || 'none')
    return list
  }

  async current(service: string): Promise<number> {
    return this.#list(service).length
  }

  async replicas(service: string): Promise<Replica[]> {
    return this.#list(service).map((r) => ({ id: r.id, url: r.url, ready: true, startedAtMs: r.startedAtMs }))
  }

  scaleTo(service: string, replicas: number, _reason: string): Promise<ScaleResult> {
    this.#list(service)
    if (!Number.isInteger(replicas) || replicas < 0)
      return Promise.reject(VGL_ERR_SCALE_REQUEST(`replicas: expected a whole number ≥ 0, got ${replicas}`))
    return this.#queue.run(service, async () => {
      const list = this.#list(service)
      const before = list.length
      const started: string[] = []
      const stopped: string[] = []
      if (replicas > before) {
        const results = await Promise.allSettled(
          Array.from({ length: replicas - before }, () => this.#start(service)),
        )
        const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
        list.push(...ok)
        started.push(...ok.map((r) => r.id))
        if (ok.length > 0) await this.#publish(service)
        const failed = results.find((r) => r.status === 'rejected')
        if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
      } else if (replicas < before) {
        // the newest go first: the oldest have warm caches and pooled connections
        const leaving = list.splice(replicas)
        await this.#publish(service)
        await Promise.all(leaving.map((r) => this.#stop(service, r)))
        stopped.push(...leaving.map((r) => r.id))
      }
      return { service, before, after: list.length, started, stopped }
    })
  }

  restart(service: string, _reason: string): Promise<RestartResult> {
    this.#list(service)
    return this.#queue.run(service, async () => {
      const list = this.#list(service)
      const replaced: { from: string; to: string }[] = []
      for (const old of [...list]) {
        const fresh = await this.#start(service)
        list.splice(list.indexOf(old), 1, fresh)
        // the pool gains the new replica and loses the old one in one change, and resolves
        // once the old one's requests finished
        await this.#publish(service)
        await this.#stop(service, old)
        replaced.push({ from: old.id, to: fresh.id })
      }
      return { service, replaced }
    })
  }

  #publish(service: string): Promise<void> {
    return this.#o.pool.setTargets(
      service,
      this.#list(service).map((r) => r.url),
    )
  }

  async #start(service: string): Promise<Running> {
    if (this.#closed) throw VGL_ERR_SCALE_ACTUATOR(this.kind, 'closed')
    const svc = this.#o.services[service]
    const host = svc.host ?? '127.0.0.1'
    const port = await freePort(host)
    const args = svc.command
      .slice(1)
      .map((a) => a.replaceAll('${PORT}', String(port)).replaceAll('$PORT', String(port)))
    const child = spawn(svc.command[0], args, {
      env: { ...process.env, ...svc.env, PORT: String(port) },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    const id = `${service}-${child.pid ?? 'x'}-${port}`
    let tail = ''
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-2000)
      for (const line of chunk.split('\n')) if (line.trim() !== '') this.#o.onOutput?.(service, id, line)
    })
    let spawnError: Error | null = null
    let exitCode: number | null | undefined
    const exited = new Promise<number | null>((resolve) => {
      child.once('error', (err) => {
        spawnError = err
        resolve(null)
      })
      child.once('exit', (code, signal) => {
        exitCode = code ?? (signal === null ? null : -1)
        resolve(exitCode)
      })
    })
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
    const timeoutMs = svc.startTimeoutMs ?? 30_000
    const deadline = Date.now() + timeoutMs
    const healthPath = svc.healthPath ?? '/health'
    for (;;) {
      if (spawnError !== null)
        throw VGL_ERR_SCALE_ACTUATOR(
          this.kind,
          `cannot start "${svc.command[0]}": ${(spawnError as Error).message}`,
        )
      if (exitCode !== undefined)
        throw VGL_ERR_SCALE_ACTUATOR(
          this.kind,
          `"${svc.command.join(' ')}" exited with ${exitCode} before it was healthy${tail ? `: ${tail.trim().split('\n').pop()}` : ''}`,
        )
      if (Date.now() >= deadline) {
        await this.#kill(child, exited, 0)
        throw VGL_ERR_SCALE_UNHEALTHY(service, timeoutMs, `GET ${url}${healthPath} never answered 2xx`)
      }
      try {
        const res = await fetch(`${url}${healthPath}`, { signal: AbortSignal.timeout(1_000) })
        await res.body?.cancel()
        if (res.status >= 200 && res.status < 300) break
      } catch {
        // not listening yet
      }
      await sleep(svc.healthIntervalMs ?? 200)
    }
    const running = { id, port, url, child, startedAtMs: Date.now(), exited }
    // a replica that dies on its own leaves the pool at once: the gateway never routes to a port
    // nobody listens on (replicas stopped on purpose are out of the list before they exit)
    void exited.then((code) => {
      const list = this.#list(service)
      const at = list.indexOf(running)
      if (at < 0) return
      list.splice(at, 1)
      this.#o.onOutput?.(service, id, `exited on its own (${code ?? 'signal'}): removed from the pool`)
      void this.#publish(service).catch(() => {})
    })
    return running
  }

  async #stop(service: string, r: Running): Promise<void> {
    await this.#kill(r.child, r.exited, this.#o.services[service].stopGraceMs ?? 10_000)
  }

  async #kill(child: ChildProcess, exited: Promise<number | null>, graceMs: number): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL')
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }

  /**
   * Stops every replica (SIGTERM, then SIGKILL after each service's grace), each service's only
   * once the pool gave it back its configured targets and drained the replicas: scaled out the
   * gateways outlive this process, and would otherwise go on sending to ports nobody listens on.
   */
  async close(): Promise<void> {
    this.#closed = true
    await Promise.all(
      [...this.#running.entries()].map(async ([service, list]) => {
        const leaving = list.splice(0)
        if (leaving.length === 0) return
        await this.#o.pool.setTargets(service, null).catch((err: Error) => {
          this.#o.onOutput?.(service, '', `configured targets not restored: ${err.message}`)
        })
        await Promise.all(leaving.map((r) => this.#stop(service, r)))
      }),
    )
  }
}
