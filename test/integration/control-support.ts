/**
 * Helpers for the control-plane integration tests: build once, spawn CLI processes, poll, and the
 * scaled-out setup (`vigil gateway`/`vigil control` over NATS and a PostgreSQL schema of their own).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { serialize } from 'node:v8'
import { Worker } from 'node:worker_threads'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll, beforeAll } from 'vitest'
import { stringify } from 'yaml'
import { defaultStreams } from '../../src/bus/nats.js'
import { LiveAnomalies } from '../../src/control/anomalies.js'
import {
  startMockService,
  type LoadOptions,
  type LoadSummary,
  type MockService,
} from '../../src/sim/index.js'
import { PostgresStore } from '../../src/store/index.js'
import type { SeriesKey } from '../../src/telemetry/recorder.js'
import { ensureBuilt } from '../helpers/build.js'
import { startNatsServer, type NatsServer } from '../helpers/nats-server.js'
import { freePort } from './limits-support.js'

export const root = join(import.meta.dirname, '../..')

/** The CLI runs compiled code, built once per run by the vitest globalSetup (test/helpers/build.ts). */
export function buildOnce(): void {
  ensureBuilt()
  if (!existsSync(join(root, 'dist/control/worker.js')))
    throw new Error('build failed: dist/control/worker.js missing')
}

/**
 * Runs the load generator (the built one) on a thread of its own. In the test's process the
 * gateway, the services it calls and their span exporters share one event loop: a client on that
 * loop takes every turn the loop spends elsewhere as latency of the responses waiting to be read,
 * which no span sees, and its own work delays the spans it measures. On its own thread it times
 * what a client on another host would.
 */
export function runLoadApart(opts: Omit<LoadOptions, 'signal' | 'onProgress'>): Promise<LoadSummary> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    import(workerData.module).then((m) => m.runLoad(workerData.opts)).then(
      (s) => parentPort.postMessage({ ok: true, s }),
      (e) => parentPort.postMessage({ ok: false, message: String(e && e.message) }),
    )`
  const module = pathToFileURL(join(root, 'dist/sim/load.js')).href
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { module, opts } })
    w.once('message', (m: { ok: true; s: LoadSummary } | { ok: false; message: string }) => {
      void w.terminate()
      if (m.ok) resolve(m.s)
      else reject(new Error(`load generator: ${m.message}`))
    })
    w.once('error', reject)
  })
}

export interface Spawned {
  child: ChildProcess
  log: () => string
  /** the first capture group of the first log line matching `re` */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>
}

export function spawnVigil(args: string[], env: Record<string, string> = {}): Spawned {
  const child = spawn(process.execPath, [join(root, 'bin/vigil.js'), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let log = ''
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()))
  return {
    child,
    log: () => log,
    waitFor: (re, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const until = Date.now() + timeoutMs
        const check = () => {
          const m = re.exec(log)
          if (m) return resolve(m[1])
          if (child.exitCode !== null || child.signalCode !== null)
            return reject(new Error(`vigil exited (${child.exitCode ?? child.signalCode}):\n${log}`))
          if (Date.now() > until) return reject(new Error(`timed out waiting for ${re}:\n${log}`))
          setTimeout(check, 50)
        }
        check()
      }),
  }
}

/**
 * `spawn(cmd, name)` writes `<dir()>/<name>.yaml` from `config(name)` and runs `vigil <cmd>` on
 * it (with `env` added); each process joins `procs`, which the test's teardown stops.
 */
export function configuredSpawner(
  dir: () => string,
  procs: Spawned[],
  config: (name: string) => string,
  env: Record<string, string> = {},
) {
  return (cmd: 'gateway' | 'control', name: string): Spawned => {
    const file = join(dir(), `${name}.yaml`)
    writeFileSync(file, config(name))
    const p = spawnVigil([cmd, '--config', file], env)
    procs.push(p)
    return p
  }
}

export function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
}

export async function poll<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const until = Date.now() + timeoutMs
  let last: T | undefined
  for (;;) {
    try {
      last = await fn()
      if (ok(last)) return last
    } catch {
      // not ready yet
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

export interface WebhookReceiver<A> {
  /** where a webhook sink posts */
  url: string
  /** every body received, with when it arrived, in arrival order */
  pages: { atMs: number; body: { alerts: A[] } }[]
  /** the alerts of every page, in arrival order */
  alerts(): A[]
  close(): Promise<void>
}

/** A local HTTP server taking webhook pages, so a test sees what a real receiver would. */
export async function startWebhookReceiver<A>(): Promise<WebhookReceiver<A>> {
  const pages: WebhookReceiver<A>['pages'] = []
  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (c: Buffer) => (text += c.toString()))
    req.on('end', () => {
      pages.push({ atMs: Date.now(), body: JSON.parse(text) as { alerts: A[] } })
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    pages,
    alerts: () => pages.flatMap((p) => p.body.alerts),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections() // a sink's idle keep-alive socket would hold close() open
        server.close(() => r())
      }),
  }
}

/** Sends n GET requests, `concurrency` at a time; resolves to the statuses. */
export async function send(url: string, n: number, concurrency = 10): Promise<number[]> {
  const statuses: number[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++
        const res = await fetch(url)
        await res.arrayBuffer()
        statuses.push(res.status)
      }
    }),
  )
  return statuses
}

/**
 * A detector bank warmed offline on `windows` steady 1 s windows of one series (12-24 requests/s,
 * p50 16-30 ms, no errors), written where `detect.statePath` reads it: the ~130 windows of live
 * warm-up would take minutes at 1 s windows. Steady traffic like this opens nothing.
 */
export function writeWarmDetectorState(
  path: string,
  series: { service: string; route: string; env: string },
  windows = 400,
): void {
  let seed = 11
  const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647
  const warm = new LiveAnomalies({ stepMs: 1000, historySize: 512 })
  for (let i = 0; i < windows; i++) {
    const count = Math.round(12 + 12 * rand())
    const p50 = 16 + 14 * rand()
    const p95 = p50 * (1 + 0.4 * rand())
    warm.hook(
      series,
      {
        startMs: i * 1000,
        durationMs: 1000,
        count,
        ratePerSec: count,
        errorRatio: 0,
        upstreamErrorRatio: 0,
        refused: 0,
        refused5xx: 0,
        limitedRatio: 0,
        timeouts: 0,
        connectErrors: 0,
        statusClass: [0, count, 0, 0, 0],
        bytesIn: 0,
        bytesOut: 0,
        p50,
        p95,
        p99: p95 * (1 + 0.6 * rand()),
        sources: 1,
      },
      { correction: false },
    )
  }
  if (warm.openAnomalies().length > 0) throw new Error('the warm-up windows opened an anomaly')
  writeFileSync(path, serialize(warm.snapshot()))
}

/** The shared PostgreSQL; each scaled-out test stores into a schema of its own there. */
export const PG_URL = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Log lines a process writes once it serves; each captures the URL a test talks to next. */
export const READY = {
  gateway: /"gatewayUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/,
  gatewayAdmin: /"adminUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/,
  control: /"adminUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil control ready"/,
}

/**
 * The sections after `services:` of the process-actuator tests' `vigil start` config: one route to
 * `orders`, 1 s windows, the store and limits in `dir`, no detection or forecasting.
 */
export const startSections = (dir: string): string[] => [
  'routes:',
  '  - { name: orders, path: /orders, service: orders }',
  'telemetry: { windowMs: 1000, otlp: { enabled: false } }',
  `store: { kind: sqlite, path: ${JSON.stringify(join(dir, 'vigil.db'))} }`,
  `limits: { dataDir: ${JSON.stringify(join(dir, 'data'))} }`,
  'control: { graceMs: 200 }',
  'detect: { enabled: false }',
  'forecast: { enabled: false }',
  '',
]

/** Ends the replica processes a failed test left behind. */
export function killLeft(pids: Iterable<number>): void {
  for (const pid of pids)
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone
    }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Config sections of the autoscaling tests' `vigil control`: a quick lease, no detection or forecasting. */
export const SCALING_CONTROL_SECTIONS = {
  control: { graceMs: 300, leader: { ttlMs: 3000, renewEveryMs: 500 } },
  detect: { enabled: false },
  forecast: { enabled: false },
}

/** A `vigil mock` replica of `orders` on the actuator's `$PORT`, with more mock flags. */
export function mockReplicaCommand(...flags: string[]): string[] {
  return [
    process.execPath,
    join(root, 'bin', 'vigil.js'),
    'mock',
    '--port',
    '$PORT',
    '--name',
    'orders',
    ...flags,
  ]
}

/** The `capacity` of `GET /api/services/:name/scaling` and of each decision's evidence. */
export interface CapacityView {
  perReplica: number
  source: string
  learned: boolean
  windows: number | null
}

/** SIGTERMs the processes (a gateway flushes its last window on it) and waits until all exited. */
export async function stop(...ps: Spawned[]): Promise<void> {
  for (const p of ps) p.child.kill('SIGTERM')
  await Promise.all(ps.map((p) => exitOf(p.child)))
}

/** Requests stored for `series`, summed over every window up to a minute from now. */
export async function storedCount(store: PostgresStore, series: SeriesKey): Promise<number> {
  const points = await store.queryPoints(series, 0, Date.now() + 60_000, 'window')
  return points.reduce((a, p) => a + p.count, 0)
}

type Sections = Record<string, unknown>

export interface ScaledOutOptions {
  /** names the schema, streams and temp dir, so anything left behind says which test left it */
  name: string
  /** a private nats-server the test may kill (`nats`), instead of the shared one on :4222 */
  privateNats?: boolean
  /** each gateway logs every request to `<dir>/<id>.access.jsonl` (read back with `accessLog`) */
  accessLog?: boolean
  /** config sections of process `id` over the base: an object section merges key by key, others replace */
  config?: (id: string, dir: string) => Sections
  /** environment added for every process */
  env?: Record<string, string>
}

/**
 * One scaled-out test's world for the enclosing describe block, made in its beforeAll and removed
 * in its afterAll: a temp dir, a mock `orders` service, and a PostgreSQL schema and NATS streams of
 * this run alone, so reruns and other files never see its rows or rollups. Whatever it spawned is
 * SIGKILLed at the end, so a failed test leaves no process behind.
 */
export function scaledOut(opts: ScaledOutOptions, setupTimeoutMs = 120_000): ScaledOut {
  const w = new ScaledOut(opts)
  beforeAll(() => w.start(), setupTimeoutMs)
  afterAll(() => w.cleanup())
  return w
}

export class ScaledOut {
  readonly run = randomBytes(4).toString('hex')
  readonly schema: string
  readonly streamPrefix: string
  dir = ''
  nats: NatsServer | null = null
  #mock: MockService | null = null
  readonly #procs: Spawned[] = []
  /** Starts `vigil <cmd>` as process `id`, its config written to `<dir>/<id>.yaml`. */
  readonly spawn: (cmd: 'gateway' | 'control', id: string) => Spawned

  constructor(readonly opts: ScaledOutOptions) {
    this.schema = `vigil_${opts.name}_${this.run}`
    this.streamPrefix = `VIGILTEST_${opts.name.toUpperCase()}_${this.run}`
    this.spawn = configuredSpawner(
      () => this.dir,
      this.#procs,
      (id) => this.config(id),
      opts.env,
    )
  }

  /** the mock `orders` service every process's config routes to */
  get mockUrl(): string {
    return this.#mock!.url
  }

  async start(): Promise<void> {
    buildOnce()
    this.#mock = await startMockService({ name: 'orders' })
    this.dir = mkdtempSync(join(tmpdir(), `vigil-${this.opts.name}-`))
    if (this.opts.privateNats) this.nats = await startNatsServer(await freePort())
  }

  /** Process `id`'s YAML: one `orders` route to the mock, 1 s windows, this run's bus and store. */
  config(id: string): string {
    const base: Sections = {
      env: 'test-env',
      gateway: {
        host: '127.0.0.1',
        port: 0,
        ...(this.opts.accessLog
          ? { accessLog: { enabled: true, destination: this.#accessLogFile(id) } }
          : {}),
      },
      admin: { host: '127.0.0.1', port: 0 },
      services: { orders: { targets: [this.#mock!.url] } },
      routes: [{ name: 'orders', path: '/orders', service: 'orders' }],
      telemetry: { windowMs: 1000, gatewayId: id, otlp: { enabled: false } },
      bus: {
        kind: 'nats',
        servers: this.nats?.url ?? '127.0.0.1:4222',
        subjectPrefix: `vigiltest.${this.run}`,
        streamPrefix: this.streamPrefix,
      },
      store: { kind: 'postgres', url: PG_URL, schema: this.schema },
      // this run's own: the process actuator records its replicas there, and a replica another
      // test file left must not be adopted by this run's control plane
      limits: { dataDir: join(this.dir, 'data') },
      control: { graceMs: 1000, admin: { host: '127.0.0.1', port: 0 } },
    }
    const over = this.opts.config?.(id, this.dir) ?? {}
    const isSection = (v: unknown): v is Sections => typeof v === 'object' && v !== null && !Array.isArray(v)
    for (const [k, v] of Object.entries(over))
      base[k] = isSection(v) && isSection(base[k]) ? { ...base[k], ...v } : v
    return stringify(base)
  }

  /** Spawns `vigil gateway` as `id` and resolves once it serves, with its proxy URL. */
  async startGateway(id: string): Promise<Spawned & { url: string }> {
    const p = this.spawn('gateway', id)
    return { ...p, url: await p.waitFor(READY.gateway) }
  }

  /** Spawns `vigil control` and resolves once it serves, with its admin URL. */
  async startControl(): Promise<Spawned & { url: string }> {
    const p = this.spawn('control', 'control')
    return { ...p, url: await p.waitFor(READY.control) }
  }

  /** Gateway `id`'s access-log lines, one a request it served. */
  accessLog(id: string): string[] {
    return readFileSync(this.#accessLogFile(id), 'utf8').trim().split('\n')
  }

  #accessLogFile(id: string): string {
    return join(this.dir, `${id}.access.jsonl`)
  }

  openStore(): Promise<PostgresStore> {
    return PostgresStore.open({ url: PG_URL, schema: this.schema })
  }

  async cleanup(): Promise<void> {
    for (const p of this.#procs)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
    await this.#mock?.close()
    if (this.nats !== null)
      await this.nats.close() // its store directory, streams included, goes too
    else {
      const nc = await connect({ servers: '127.0.0.1:4222' })
      const jsm = await jetstreamManager(nc)
      for (const s of defaultStreams(this.streamPrefix)) await jsm.streams.delete(s.name).catch(() => false)
      // the leader lease's KV bucket (control.leader.bucket's default) is a stream too
      await jsm.streams.delete(`KV_${this.streamPrefix}_LEADER`).catch(() => false)
      await nc.close()
    }
    const store = await this.openStore()
    await store.dropSchema()
    await store.close()
    if (this.dir !== '') rmSync(this.dir, { recursive: true, force: true })
  }
}
