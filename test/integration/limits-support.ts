/**
 * @module Helpers for the rate-limit integration tests: a tiny upstream, `vigil gateway` child
 * processes (compiled CLI, port 0), a private redis-server to kill, and a bounded client hammer.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const CLI = join(ROOT, 'bin/vigil.js')
export const BUILT = existsSync(join(ROOT, 'dist/cli/commands/gateway.js'))

export async function startUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' })
      res.end('ok')
    })
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

export async function freePort(): Promise<number> {
  const s = createNetServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address() as AddressInfo
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

export function writeConfig(doc: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-limits-it-'))
  const file = join(dir, 'vigil.yaml')
  // Each config gets its own data dir, so persisted tiers and the audit log never leak between runs.
  const limits = doc.limits as Record<string, unknown> | undefined
  if (limits !== undefined && limits.dataDir === undefined) limits.dataDir = join(dir, 'data')
  writeFileSync(file, stringify(doc))
  return file
}

export interface GatewayProcess {
  url: string
  /** the admin API's URL once it has logged that it listens (null until then) */
  adminUrl(): string | null
  child: ChildProcess
  /** everything the process wrote to stderr so far (pino JSON lines) */
  log(): string
  stop(): Promise<void>
}

/** Spawns `node bin/vigil.js gateway --config FILE` and resolves once it listens. */
export function spawnGateway(configFile: string, timeoutMs = 30_000): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [CLI, 'gateway', '--config', configFile], {
    cwd: ROOT,
    env: { ...process.env, VIGIL_ADMIN_TOKEN: 'test-token' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let err = ''
  child.stdout!.on('data', (d: Buffer) => (err += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(t)
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`gateway did not start in ${timeoutMs} ms:\n${err}`))
    }, timeoutMs)
    const onData = () => {
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"gateway listening"/.exec(err)
      if (m === null) return
      clearTimeout(timer)
      child.stdout!.off('data', onData)
      child.stderr!.off('data', onData)
      const adminUrl = () =>
        /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"admin API listening"/.exec(err)?.[1] ?? null
      resolve({ url: m[1]!, adminUrl, child, log: () => err, stop })
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`gateway exited with ${code}:\n${err}`))
    })
  })
}

export interface RedisServer {
  port: number
  url: string
  kill(): Promise<void>
}

/** A private redis-server (no persistence) on `port`, for tests that kill it. */
export async function startRedisServer(port: number): Promise<RedisServer> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000)
    const poll = setInterval(() => {
      if (/Ready to accept connections/i.test(out)) {
        clearInterval(poll)
        clearTimeout(timer)
        resolve()
      }
    }, 20)
    child.once('exit', (code) => {
      clearInterval(poll)
      clearTimeout(timer)
      reject(new Error(`redis-server exited with ${code}:\n${out}`))
    })
  })
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((r) => child.once('exit', () => r()))
      child.kill('SIGKILL')
      await exited
    },
  }
}

export interface HammerResult {
  statuses: Map<number, number>
  admitted: number
  elapsedMs: number
  maxLatencyMs: number
  /** network-level failures (connection refused/reset) */
  failures: number
  /**
   * A lower bound on the span of the server's decisions: the last request was decided after it
   * was sent, the first before its response arrived (ms). `elapsedMs` is the upper bound.
   */
  decisionSpanMinMs: number
}

/**
 * Sends requests from `concurrency` loops, round-robin over `urls`, for `durationMs`; bounded by
 * time and by `maxRequests`. Stops by itself.
 */
export async function hammer(opts: {
  urls: readonly string[]
  durationMs: number
  concurrency: number
  headers?: Record<string, string>
  maxRequests?: number
  onResponse?: (status: number, atMs: number) => void
}): Promise<HammerResult> {
  const statuses = new Map<number, number>()
  let i = 0
  let sent = 0
  let failures = 0
  let maxLatencyMs = 0
  let firstResponseMs = Infinity
  let lastSendMs = 0
  const max = opts.maxRequests ?? 200_000
  const start = performance.now()
  const end = start + opts.durationMs
  const loop = async () => {
    while (performance.now() < end && sent < max) {
      sent++
      const url = opts.urls[i++ % opts.urls.length]!
      const t0 = performance.now()
      lastSendMs = t0
      try {
        const r = await fetch(url, { headers: opts.headers ?? {} })
        await r.arrayBuffer()
        const lat = performance.now() - t0
        if (lat > maxLatencyMs) maxLatencyMs = lat
        if (t0 + lat < firstResponseMs) firstResponseMs = t0 + lat
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
        opts.onResponse?.(r.status, performance.now() - start)
      } catch {
        failures++
      }
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, loop))
  return {
    statuses,
    admitted: statuses.get(200) ?? 0,
    elapsedMs: performance.now() - start,
    maxLatencyMs,
    failures,
    decisionSpanMinMs: Math.max(0, lastSendMs - firstResponseMs),
  }
}

/** The `limits:` section and the rest of a one-service gateway config. */
export function gatewayConfig(
  upstream: string,
  limits: Record<string, unknown>,
  routes?: unknown[],
): Record<string, unknown> {
  return {
    gateway: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    // several gateways run on this host: each needs an OTLP port of its own
    telemetry: { otlp: { host: '127.0.0.1', port: 0 } },
    services: { api: { targets: [upstream] } },
    routes: routes ?? [{ path: '/', service: 'api' }],
    limits: { enabled: true, ...limits },
  }
}

/**
 * Opens connections and warms the gateways' code paths (which spends tokens), then waits until an
 * empty bucket is full again, so the measured run starts from a full bucket on a warm process.
 */
export async function warmUp(
  urls: readonly string[],
  refillSec: number,
  headers: Record<string, string> = {},
): Promise<void> {
  await hammer({ urls, durationMs: 1000, concurrency: 4, headers })
  await new Promise((r) => setTimeout(r, refillSec * 1000 + 200))
}

/**
 * Sets tier STD through the admin API so that the machine can offer about four times its rate:
 * on a loaded 2-core machine a fixed rate may exceed what the client can send, and a run that
 * never hits the limit proves nothing. Returns the rate and burst in force.
 */
export async function calibrateStd(
  adminUrl: string,
  urls: readonly string[],
  concurrency: number,
): Promise<{ R: number; B: number }> {
  const put = async (ratePerSec: number, burst: number) => {
    const r = await fetch(`${adminUrl}/api/limits/tiers/STD`, {
      method: 'PUT',
      headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' },
      body: JSON.stringify({ ratePerSec, burst, reason: 'test calibration' }),
    })
    if (r.status !== 200) throw new Error(`PUT tier failed: ${r.status} ${await r.text()}`)
  }
  const policy = async (url: string) => {
    const r = await fetch(url)
    await r.arrayBuffer()
    return r.headers.get('ratelimit-policy')
  }
  const applied = async (q: number) => {
    const deadline = Date.now() + 10_000
    for (const url of urls) {
      while (!(await policy(url))?.includes(`;q=${q};`)) {
        if (Date.now() > deadline) throw new Error(`tier change to q=${q} not applied at ${url}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  }
  await put(1_000_000, 1_000_000)
  await applied(1_000_000)
  const probe = await hammer({ urls, durationMs: 2000, concurrency })
  const offered = (probe.admitted / probe.elapsedMs) * 1000
  // At least 10/s so B + R·T is large enough for the 0.95 bound to tolerate whole-token rounding
  // (one request is under 2% of B + R·T for T ≥ 4 s), a fifth of what the client offered so a
  // machine that gets slower after calibrating still keeps the bucket empty, and a burst of two
  // seconds so a client or gateway stalled by a busy machine (load 15 on 2 cores stalls processes
  // for over a second) loses no tokens to a full bucket: the lower bound counts them as admissible.
  const R = Math.max(10, Math.floor(offered / 5))
  const B = 2 * R
  await put(R, B)
  await applied(B)
  await new Promise((r) => setTimeout(r, (B / R) * 1000 + 300))
  return { R, B }
}

/** Waits until the gateway has logged that its admin API listens; returns its URL. */
export async function adminUrlOf(g: GatewayProcess, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  while (g.adminUrl() === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  const url = g.adminUrl()
  if (url === null) throw new Error(`gateway never logged "admin API listening":\n${g.log()}`)
  return url
}
