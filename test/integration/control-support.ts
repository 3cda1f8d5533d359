/** Helpers for the control-plane integration tests: build once, spawn CLI processes, poll. */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { serialize } from 'node:v8'
import { LiveAnomalies } from '../../src/control/anomalies.js'
import { ensureBuilt } from '../helpers/build.js'

export const root = join(import.meta.dirname, '../..')

/** The CLI runs compiled code, built once per run by the vitest globalSetup (test/helpers/build.ts). */
export function buildOnce(): void {
  ensureBuilt()
  if (!existsSync(join(root, 'dist/control/worker.js')))
    throw new Error('build failed: dist/control/worker.js missing')
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
 * it; each process joins `procs`, which the test's teardown stops.
 */
export function configuredSpawner(dir: () => string, procs: Spawned[], config: (name: string) => string) {
  return (cmd: 'gateway' | 'control', name: string): Spawned => {
    const file = join(dir(), `${name}.yaml`)
    writeFileSync(file, config(name))
    const p = spawnVigil([cmd, '--config', file])
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
