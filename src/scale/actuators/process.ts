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
 * adopt:        replicas a killed actuator on this host left running (its state file under
 *               `stateDir`) ─▶ still that process, same command, healthy? ─▶ counted, pool += url
 *                                                                └─ no ─▶ stopped as above
 * ```
 * With `stateDir`, every replica is recorded (pid, start time, command, port) from the moment it
 * is spawned until it exited (process-state.ts), so one whose control plane was killed before it
 * could stop it is found again: adopted (capacity kept through the restart; no duplicate is
 * started) rather than stopped. A recorded pid that now runs another process is never signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import {
  VGL_ERR_SCALE_ACTUATOR,
  VGL_ERR_SCALE_REQUEST,
  VGL_ERR_SCALE_UNHEALTHY,
  VGL_ERR_SCALE_UNKNOWN_SERVICE,
  withFix,
} from '../../errors.js'
import {
  KeyedQueue,
  type Actuator,
  type Adoption,
  type Replica,
  type RestartResult,
  type ScaleResult,
  type TargetPool,
} from '../actuator.js'
import {
  isRecordedProcess,
  procStartOf,
  recordedProcessGone,
  ReplicaStateDir,
  type ReplicaRecord,
} from './process-state.js'
import { closeFd, openForAppend, ownReplicaLog, ReplicaLogTail, replicaLogPath } from './replica-log.js'

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
  /** called with a replica's output lines (stdout and stderr), and a line for each replica adopted or stopped at adoption (default: dropped) */
  onOutput?: (service: string, id: string, line: string) => void
  /**
   * the data directory: replicas are recorded in `<stateDir>/process-replicas/` so that a later
   * actuator on this host can adopt the ones a killed one left running (absent: nothing recorded)
   */
  stateDir?: string
  /** a state file that cannot be read or written (default: dropped) */
  onWarn?: (message: string) => void
}

interface Running {
  id: string
  pid: number | undefined
  port: number
  url: string
  startedAtMs: number
  exited: Promise<number | null>
  /** signals the process, unless it exited already */
  signal(sig: 'SIGTERM' | 'SIGKILL'): void
  gone(): boolean
}

/** How long an adopted replica's exit can go unnoticed (it is not our child: no exit event). */
const ADOPTED_POLL_MS = 250
/** An adopted replica answers its health check within this (or its startTimeoutMs if shorter). */
const ADOPT_HEALTH_MS = 5_000

const idOf = (service: string, pid: number | undefined, port: number) => `${service}-${pid ?? 'x'}-${port}`
const urlOf = (host: string, port: number) => `http://${host.includes(':') ? `[${host}]` : host}:${port}`
const argsOf = (command: readonly string[], port: number) =>
  command.slice(1).map((a) => a.replaceAll('${PORT}', String(port)).replaceAll('$PORT', String(port)))

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

/** What a replica wrote to stdout and stderr: lines as they come, the last ones for an error message. */
interface ReplicaOutput {
  recent(): string
  /** passes on what was written so far */
  read(): Promise<void>
  stop(): Promise<void>
}

/** Without a state folder stdout and stderr stay pipes: nothing could adopt the replica anyway. */
function pipeLog(child: ChildProcess, onLine: (line: string) => void): ReplicaOutput {
  let recent = ''
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8')
    stream?.on('data', (chunk: string) => {
      recent = (recent + chunk).slice(-2000)
      for (const line of chunk.split('\n')) if (line.trim() !== '') onLine(line)
    })
  }
  return { recent: () => recent, read: async () => {}, stop: async () => {} }
}

const lastLine = (text: string) => {
  const line = text.trim().split('\n').pop()
  return line ? `: ${line}` : ''
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class ProcessActuator implements Actuator {
  readonly kind = 'process' as const
  readonly #o: ProcessActuatorOptions
  readonly #running = new Map<string, Running[]>()
  readonly #queue = new KeyedQueue()
  /** every replica process alive (starting, running, adopted, stopping), by its record's instance */
  readonly #records = new Map<string, ReplicaRecord>()
  readonly #state: ReplicaStateDir | null
  #closed = false

  constructor(opts: ProcessActuatorOptions) {
    for (const [name, svc] of Object.entries(opts.services))
      if (svc.command.length === 0)
        throw VGL_ERR_SCALE_REQUEST(
          `services.${name}.scale.process.command: expected the program and its arguments`,
        )
    this.#o = opts
    for (const name of Object.keys(opts.services)) this.#running.set(name, [])
    this.#state =
      opts.stateDir === undefined ? null : ReplicaStateDir.open(opts.stateDir, (m) => this.#o.onWarn?.(m))
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

  /**
   * The file a new replica's stdout and stderr go to: with a state folder, so that the replica
   * outlives a killed control plane (a pipe would break) and whoever adopts it reads on. One file
   * for both, as `2>&1`, keeps their lines in the order they were written.
   */
  #openLog(service: string, instance: string): { path: string; fd: number } | null {
    if (this.#state === null) return null
    const path = replicaLogPath(this.#state.dir, service, instance)
    try {
      return { path, fd: openForAppend(path) }
    } catch (err) {
      this.#o.onWarn?.(
        `replica output file ${path} cannot be written (${(err as Error).message}): its output goes through pipes, and the replica may end if this control plane is killed`,
      )
      return null
    }
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
    const args = argsOf(svc.command, port)
    const instance = randomBytes(4).toString('hex')
    const file = this.#openLog(service, instance)
    let child: ChildProcess
    try {
      child = spawn(svc.command[0], args, {
        env: { ...process.env, ...svc.env, PORT: String(port) },
        stdio: ['ignore', file?.fd ?? 'pipe', file?.fd ?? 'pipe'],
      })
    } finally {
      if (file !== null) closeFd(file.fd)
    }
    const id = idOf(service, child.pid, port)
    const output = (line: string) => this.#o.onOutput?.(service, id, line)
    const log = file === null ? pipeLog(child, output) : new ReplicaLogTail(file.path, output)
    let spawnError: Error | null = null
    let exitCode: number | null | undefined
    const exited = new Promise<number | null>((resolve) => {
      child.once('error', (err) => {
        spawnError = err
        void log.stop().finally(() => resolve(null))
      })
      // what it wrote last is read before anyone is told it exited (the error names it)
      child.once('exit', (code, signal) => {
        void log.stop().finally(() => {
          exitCode = code ?? (signal === null ? null : -1)
          resolve(exitCode)
        })
      })
    })
    const url = urlOf(host, port)
    // recorded before its health check: a control plane killed while it starts leaves it recorded
    const procStart = child.pid === undefined ? null : procStartOf(child.pid)
    if (child.pid !== undefined && procStart !== null)
      this.#track(
        {
          service,
          instance,
          pid: child.pid,
          procStart,
          port,
          url,
          command: [svc.command[0], ...args],
          startedAtMs: Date.now(),
          ...(file !== null ? { log: file.path } : {}),
        },
        exited,
      )
    const signal = (sig: 'SIGTERM' | 'SIGKILL') => void child.kill(sig)
    const gone = () => child.exitCode !== null || child.signalCode !== null
    const timeoutMs = svc.startTimeoutMs ?? 30_000
    const healthy = await this.#healthy(svc, url, Date.now() + timeoutMs, () => {
      if (spawnError !== null)
        throw withFix(
          VGL_ERR_SCALE_ACTUATOR(
            this.kind,
            `cannot start "${svc.command[0]}": ${(spawnError as Error).message}`,
          ),
          `check services.${service}.scale.actuator.command: "${svc.command[0]}" must be an executable on Vigil's PATH ` +
            'or an absolute path, runnable by its user',
        )
      if (exitCode !== undefined)
        throw withFix(
          VGL_ERR_SCALE_ACTUATOR(
            this.kind,
            `"${svc.command.join(' ')}" exited with ${exitCode} before it was healthy${lastLine(log.recent())}`,
          ),
          `run "${svc.command.join(' ')}" by hand with PORT set to see why it exits, then fix services.${service}.scale.actuator (command, env)`,
        )
    })
    if (!healthy) {
      await this.#kill({ signal, gone, exited }, 0)
      const path = svc.healthPath ?? '/health'
      throw withFix(
        VGL_ERR_SCALE_UNHEALTHY(service, timeoutMs, `GET ${url}${path} never answered 2xx`),
        `check that "${svc.command.join(' ')}" listens on $PORT and answers GET ${path} with 2xx ` +
          `(services.${service}.scale.actuator.healthPath), read the replica's log, or raise ` +
          `services.${service}.scale.actuator.startTimeoutMs (${timeoutMs} ms) if it needs longer to start; ` +
          'the replica was stopped and never added to the pool',
      )
    }
    // what it wrote until it was healthy is logged before the gateways send it a request
    await log.read()
    return this.#watch(service, {
      id,
      pid: child.pid,
      port,
      url,
      startedAtMs: Date.now(),
      exited,
      signal,
      gone,
    })
  }

  /**
   * Polls the health check until it answers 2xx (true) or the deadline passes (false);
   * `check` throws to give up at once (the process exited).
   */
  async #healthy(
    svc: ProcessServiceOptions,
    url: string,
    deadline: number,
    check: () => void,
  ): Promise<boolean> {
    const healthPath = svc.healthPath ?? '/health'
    for (;;) {
      check()
      if (Date.now() >= deadline) return false
      try {
        const res = await fetch(`${url}${healthPath}`, { signal: AbortSignal.timeout(1_000) })
        await res.body?.cancel()
        if (res.status >= 200 && res.status < 300) return true
      } catch {
        // not listening yet
      }
      await sleep(svc.healthIntervalMs ?? 200)
    }
  }

  /**
   * A replica that dies on its own leaves the pool at once: the gateway never routes to a port
   * nobody listens on (replicas stopped on purpose are out of the list before they exit).
   */
  #watch(service: string, running: Running): Running {
    void running.exited.then((code) => {
      const list = this.#list(service)
      const at = list.indexOf(running)
      if (at < 0) return
      list.splice(at, 1)
      this.#o.onOutput?.(
        service,
        running.id,
        `exited on its own (${code ?? 'signal'}): removed from the pool`,
      )
      void this.#publish(service).catch(() => {})
    })
    return running
  }

  /** Keeps the record in this actuator's state file for as long as the process runs. */
  #track(rec: ReplicaRecord, exited: Promise<unknown>): void {
    if (this.#state === null) return
    this.#records.set(rec.instance, rec)
    this.#persist()
    void exited.then(() => {
      this.#records.delete(rec.instance)
      this.#persist()
    })
  }

  #persist(): void {
    try {
      this.#state?.write([...this.#records.values()])
    } catch (err) {
      this.#o.onWarn?.(
        `replica state not written to ${this.#state?.dir} (${(err as Error).message}): replicas left running by a crash would not be found again`,
      )
    }
  }

  /**
   * Takes over the replicas of `service` that an actuator on this host left running when its
   * process ended without stopping them (killed, crashed). Each recorded one that still runs as
   * recorded (same pid, start time and command) is adopted when `keep` and it runs the configured
   * command and answers its health check: counted, and in the pool without a duplicate started.
   * Otherwise it is stopped (SIGTERM, SIGKILL after stopGraceMs). Records of processes gone, or of
   * a pid now run by another process, are dropped without signalling anything. Replicas of
   * services this actuator does not run (any longer) are stopped: nobody else would.
   */
  adopt(service: string, keep: boolean): Promise<Adoption> {
    this.#list(service)
    return this.#queue.run(service, async () => {
      const list = this.#list(service)
      const before = list.length
      const adopted: Running[] = []
      const leaving: { r: Running; reason: string; service: string }[] = []
      if (this.#state === null || this.#closed)
        return { service, before, after: before, adopted: [], stopped: [] }
      const svc = this.#o.services[service]
      const known = new Set([...this.#records.values()].map((r) => `${r.pid}:${r.procStart}`))
      for (const file of this.#state.orphans()) {
        const remaining: ReplicaRecord[] = []
        for (const rec of file.replicas) {
          const managed = this.#o.services[rec.service] !== undefined
          if (managed && rec.service !== service) {
            remaining.push(rec)
            continue
          }
          // gone, or the pid now runs another process: forget it, signal nothing
          if (known.has(`${rec.pid}:${rec.procStart}`)) continue
          if (!isRecordedProcess(rec)) {
            const log = ownReplicaLog(this.#state.dir, rec.log)
            if (log !== null) rmSync(log, { force: true })
            continue
          }
          known.add(`${rec.pid}:${rec.procStart}`)
          const r = this.#adopted(rec)
          const why = !managed
            ? `service ${rec.service} has no process actuator here any longer`
            : await this.#whyNotAdopt(svc, rec, r, keep)
          if (why === null) adopted.push(r)
          else leaving.push({ r, reason: why, service: rec.service })
        }
        this.#state.rewriteOrphan(file, remaining)
      }
      for (const r of adopted) {
        list.push(this.#watch(service, r))
        this.#o.onOutput?.(
          service,
          r.id,
          `adopted replica pid ${r.pid} on port ${r.port}, left running by a control plane that ended without stopping it`,
        )
      }
      // the oldest first, as if started here: a scale-down still stops the newest
      list.sort((a, b) => a.startedAtMs - b.startedAtMs)
      // gateways may still route to the stopped ones (a killed leader's last list): they get
      // this list first, or the configured targets when no replica is left
      if (adopted.length > 0) await this.#publish(service)
      else if (leaving.length > 0 && list.length === 0)
        await this.#o.pool.setTargets(service, null).catch(() => {})
      for (const { r, reason, service: of } of leaving)
        this.#o.onOutput?.(
          of,
          r.id,
          `stopping replica pid ${r.pid} on port ${r.port}, left running by a control plane that ended without stopping it: ${reason}`,
        )
      await Promise.all(
        leaving.map(({ r, service: of }) =>
          this.#kill(r, this.#o.services[of]?.stopGraceMs ?? svc.stopGraceMs ?? 10_000),
        ),
      )
      return {
        service,
        before,
        after: list.length,
        adopted: adopted.map((r) => ({ id: r.id, url: r.url, ready: true, startedAtMs: r.startedAtMs })),
        stopped: leaving.map(({ r, reason }) => ({ id: r.id, reason })),
      }
    })
  }

  /** Why a left-behind replica of a service this actuator runs is stopped, or null: adopt it. */
  async #whyNotAdopt(
    svc: ProcessServiceOptions,
    rec: ReplicaRecord,
    r: Running,
    keep: boolean,
  ): Promise<string | null> {
    if (!keep) return 'the service is not scaled in enforce mode'
    const now = [svc.command[0], ...argsOf(svc.command, rec.port)]
    if (rec.command.length !== now.length || rec.command.some((a, i) => a !== now[i]))
      return 'it runs another command than the one configured now'
    const deadline = Date.now() + Math.min(svc.startTimeoutMs ?? 30_000, ADOPT_HEALTH_MS)
    const healthy = await this.#healthy(svc, rec.url, deadline, () => {
      if (r.gone()) throw new Error('exited')
    }).catch(() => false)
    return healthy ? null : `GET ${rec.url}${svc.healthPath ?? '/health'} did not answer 2xx`
  }

  /** A handle on a recorded process that is not our child: signals only while it is still that process. */
  #adopted(rec: ReplicaRecord): Running {
    const id = idOf(rec.service, rec.pid, rec.port)
    // it goes on writing to the file it was started with; what it wrote unwatched is read first
    const path = this.#state === null ? null : ownReplicaLog(this.#state.dir, rec.log)
    const log =
      path === null
        ? null
        : new ReplicaLogTail(path, (line) => this.#o.onOutput?.(rec.service, id, line), { replay: true })
    let gone = false
    const isGone = () => (gone ||= recordedProcessGone(rec))
    const exited = new Promise<number | null>((resolve) => {
      const timer = setInterval(() => {
        if (!isGone()) return
        clearInterval(timer)
        void (log?.stop() ?? Promise.resolve()).finally(() => resolve(null))
      }, ADOPTED_POLL_MS)
      timer.unref()
    })
    this.#track(rec, exited)
    return {
      id,
      pid: rec.pid,
      port: rec.port,
      url: rec.url,
      startedAtMs: rec.startedAtMs,
      exited,
      gone: isGone,
      signal: (sig) => {
        // an exiting replica (no command line yet not gone) needs no signal, and its pid is checked
        if (isGone() || !isRecordedProcess(rec)) return
        try {
          process.kill(rec.pid, sig)
        } catch {
          // exited between the check and the signal
        }
      },
    }
  }

  async #stop(service: string, r: Running): Promise<void> {
    await this.#kill(r, this.#o.services[service].stopGraceMs ?? 10_000)
  }

  async #kill(r: Pick<Running, 'signal' | 'gone' | 'exited'>, graceMs: number): Promise<void> {
    if (r.gone()) return
    r.signal(graceMs > 0 ? 'SIGTERM' : 'SIGKILL')
    const timer = setTimeout(() => r.signal('SIGKILL'), graceMs)
    await r.exited
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
