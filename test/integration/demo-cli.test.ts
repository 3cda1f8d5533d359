/**
 * `vigil demo` through the built CLI on a compressed clock (500 ms windows, a day per 40 s): it is
 * up within 60 s, and the admin API then shows each thing the README promises within ten minutes
 * (here within ~90 s on an idle machine, up to 140 s under load): a detected incident, a forecast, an adaptive limit change, an alert and a
 * scale-up; Ctrl-C stops every child, the replica processes included. And a port another process
 * holds: a default one moves and the banner says so, a named one stops the start with one line.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../helpers/build.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const TOKEN = `demo-cli-${process.pid}`

/** examples/demo.yaml on a faster clock: the detectors' ~100 windows of warm-up take 50 s */
function compressedConfig(): string {
  const text = readFileSync(join(root, 'examples/demo.yaml'), 'utf8')
  const fast = text
    .replace(/windowMs: 2000\n/, 'windowMs: 500\n')
    .replace(/forecast:\n/, 'forecast:\n  minHistory: 20\n')
    .replace(/stats: \{ windowMs: 2000/, 'stats: { windowMs: 500')
  expect(fast.match(/windowMs: 500/g)?.length, 'the demo config changed its clock lines').toBe(2)
  const file = join(mkdtempSync(join(tmpdir(), 'vigil-demo-config-')), 'demo.yaml')
  writeFileSync(file, fast)
  return file
}

interface Action {
  kind: string
  policy: string
  mode: string
  before: unknown
  after: unknown
  result: { status: string }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('vigil demo through the built CLI', () => {
  beforeAll(() => {
    // Built once per run by the vitest globalSetup (test/helpers/build.ts).
    ensureBuilt()
  }, 180_000)

  it('is up within 60 s and shows an anomaly, a forecast, a limit change, an alert and a scale-up; Ctrl-C leaves no process behind', async () => {
    const t0 = Date.now()
    const child = spawn(
      process.execPath,
      [
        `${root}bin/vigil.js`,
        'demo',
        ...['--config', compressedConfig(), '--duration', '150s', '--rps', '30', '--day', '40s'],
        ...['--first-incident', '62s', '--incident-every', '8s', '--incident-for', '4s'],
        ...['--abuse-rps', '40', '--status-every', '2s'],
        ...['--gateway-port', '0', '--admin-port', '0', '--mock-port-base', '0'],
      ],
      {
        // a scratch working directory: nothing of the demo lands in the repository
        cwd: mkdtempSync(join(tmpdir(), 'vigil-demo-')),
        env: { ...process.env, VIGIL_ADMIN_TOKEN: TOKEN },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      // ---- bring-up: the dashboard's login link within 60 s of the command ----
      let admin = ''
      while (admin === '') {
        const m = /admin (http:\/\/\S+) .*\n {2}dashboard {2}(\S+)/.exec(stdout)
        if (m !== null) {
          admin = m[1]
          expect(m[2]).toBe(`${admin}/#token=${TOKEN}`)
        } else if (child.exitCode !== null || Date.now() - t0 > 60_000)
          throw new Error(`the demo was not up within 60 s\n${stdout}\n${stderr}`)
        else await new Promise((r) => setTimeout(r, 200))
      }
      const upS = (Date.now() - t0) / 1000
      expect(upS).toBeLessThan(60)

      // ---- what the dashboard shows, through the admin API ----
      const get = async <T>(path: string): Promise<T> => {
        const r = await fetch(`${admin}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
        if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`)
        return (await r.json()) as T
      }
      const seen: Record<string, number> = {}
      const mark = (what: string, ok: boolean) => {
        if (ok && seen[what] === undefined) seen[what] = Math.round((Date.now() - t0) / 1000)
      }
      const wanted = ['anomaly', 'forecast', 'limit change', 'alert', 'scale-up']
      let replicaPids: number[] = []
      let firstIncidentAt = 0
      while (wanted.some((w) => seen[w] === undefined) && Date.now() - t0 < 140_000) {
        await new Promise((r) => setTimeout(r, 2_000))
        const [anomalies, forecast, actions, alerts, scaling] = await Promise.all([
          get<{ anomalies: Array<{ key: string; metric: string; openedAtMs: number }> }>(
            '/api/anomalies?state=all',
          ),
          get<{ status: string; points: unknown[] }>(
            `/api/series/${encodeURIComponent('payments|*|demo')}/forecast`,
          ).catch(() => ({ status: 'none', points: [] })),
          get<{ actions: Action[] }>('/api/actions?limit=500'),
          get<{ alerts: Array<{ rule: string; firingAtMs: number | null }> }>('/api/alerts?state=all'),
          get<{ replicas: Array<{ id: string }> }>('/api/services/users/scaling'),
        ])
        // an incident detected: an anomaly opened once the injected incidents and the scraper began
        if (firstIncidentAt === 0 && /\n {2}incident {3}/.test(stdout)) firstIncidentAt = Date.now()
        mark(
          'anomaly',
          firstIncidentAt > 0 && anomalies.anomalies.some((a) => a.openedAtMs >= firstIncidentAt - 2_000),
        )
        mark('forecast', forecast.status === 'ok' && forecast.points.length > 0)
        mark(
          'limit change',
          actions.actions.some(
            (a) => a.kind.startsWith('limits.') && a.mode === 'enforce' && a.result.status === 'ok',
          ),
        )
        mark(
          'alert',
          alerts.alerts.some((a) => a.firingAtMs !== null),
        )
        mark(
          'scale-up',
          actions.actions.some(
            (a) =>
              a.kind === 'scale.replicas' &&
              a.mode === 'enforce' &&
              a.result.status === 'ok' &&
              typeof a.before === 'number' &&
              a.before >= 1 &&
              typeof a.after === 'number' &&
              a.after > a.before,
          ),
        )
        // the process actuator names a replica `users-<pid>-<port>`
        replicaPids = scaling.replicas.map((r) => Number(r.id.split('-')[1])).filter((p) => p > 0)
      }
      process.stdout.write(
        `vigil demo (compressed clock): up in ${upS.toFixed(1)} s; seconds after the command: ${JSON.stringify(seen)}\n`,
      )
      expect(Object.keys(seen).sort(), `${stdout}\n${stderr}`).toEqual([...wanted].sort())
      expect(replicaPids.length).toBeGreaterThan(0)
      expect(replicaPids.every(alive)).toBe(true)

      // ---- the terminal: status line, one line per action (the actions reach it within seconds) ----
      const lines = [
        /\n {2}scale {6}Scaled users [1-9] → \d+ replicas \(.*req\/s per replica/,
        /\n {2}limits {5}(Lowered|Tightened|Relaxed|Renewed|Lifted|Limited|Turned) .+ \(.+\)/,
        /\n {2}alert {6}Alert "[\w-]+" (\(\w+\) )?fired on .+: /,
        // the series named in words, not as a key (`shop (demo)`, not `shop|*|demo`)
        /\n {2}anomaly {4}(Anomaly on|Abusive client) [^|\n]+, score \d\.\d\d\n/,
      ]
      for (let i = 0; i < 20 && !lines.every((l) => l.test(stdout)); i++)
        await new Promise((r) => setTimeout(r, 500))
      for (const l of lines) expect(stdout).toMatch(l)
      // a policy's change is printed once, as its action, not again as the audited change it made
      expect(stdout).not.toMatch(/\n {2}limits {5}The [\w-]+ policy \w+ the limit controls/)
      expect(stdout).toMatch(
        /\] gateway +[\d.]+ req\/s {2}2xx .* \| clients p50 .* \| shop \w+.* · users x\d \w+.* · payments \w+.*\| anomalies \d+ · alerts \d+/,
      )
      // the gateway's rate counts every client: once the scraper (40 req/s) runs, more than the
      // diurnal clients' peak (30 req/s) alone
      const afterAbuse = stdout.slice(stdout.indexOf('\n  abuse '))
      const rates = [...afterAbuse.matchAll(/\] gateway +([\d.]+) req\/s/g)].map((m) => Number(m[1]))
      expect(Math.max(0, ...rates), stdout).toBeGreaterThan(35)
      expect(stdout).toMatch(/\n {2}incident {3}pricing \(aws\): errors for 4s/)

      // ---- Ctrl-C: a clean exit, no replica left ----
      child.kill('SIGINT')
      const code = await Promise.race([
        exited,
        new Promise<string>((r) => setTimeout(() => r('still running 20 s after SIGINT'), 20_000)),
      ])
      expect(code, stderr).toBe(0)
      expect(stdout).toMatch(/vigil demo: served \d+ requests in \d+s \(200: \d+/)
      expect(replicaPids.filter(alive)).toEqual([])
      const left = spawnSync('pgrep', ['-f', `${root}bin/vigil.js mock --port`], { encoding: 'utf8' })
      const ours = left.stdout
        .split('\n')
        .map(Number)
        .filter((p) => replicaPids.includes(p))
      expect(ours).toEqual([])
    } finally {
      // after a failed check too: Ctrl-C lets the demo stop its replica processes; SIGKILL would
      // orphan them
      if (child.exitCode === null) {
        child.kill('SIGINT')
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
        await exited
        clearTimeout(timer)
      }
    }
  }, 180_000)
})

/** Runs `vigil demo` until it fails or prints its banner (then Ctrl-C): exit code and output. */
function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [`${root}bin/vigil.js`, 'demo', ...args], {
    cwd: mkdtempSync(join(tmpdir(), 'vigil-demo-')),
    env: { ...process.env, VIGIL_ADMIN_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  // once: a second SIGINT, after the demo has let go of its handler, would kill it mid-stop
  let stopping = false
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString()
    if (!stopping && /\n {2}baseline /.test(stdout)) stopping = child.kill('SIGINT')
  })
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const timer = setTimeout(() => child.kill('SIGINT'), 30_000)
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    }),
  )
}

/** Holds `port` on all interfaces (a port 0 gets a free one); null when another process has it already. */
function hold(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(null))
    srv.listen(port, '0.0.0.0', () => resolve(srv))
  })
}

describe('vigil demo with a port another process holds', () => {
  const FREE = ['--gateway-port', '0', '--admin-port', '0', '--mock-port-base', '0']

  it('stops before anything starts, with one line naming the flag, when the port named with --otlp-port is taken', async () => {
    const holder = (await hold(0))!
    const port = (holder.address() as AddressInfo).port
    try {
      const r = await runDemo([...FREE, '--otlp-port', String(port)])
      expect(r.code, r.stderr).toBe(1)
      expect(r.stderr).toBe(
        `--otlp-port ${port} is in use by another process: stop it, or set --otlp-port to a free port, or leave it out for a free one\n`,
      )
      expect(r.stdout).not.toMatch(/vigil demo: gateway|dashboard/)
    } finally {
      await new Promise((r) => holder.close(r))
    }
  }, 30_000)

  it('moves its OTLP receiver off a taken 4318 and says so in the banner, whose journey line names the port the spans go to', async () => {
    // held by this test, or by another process already: taken either way
    const holder = await hold(4318)
    try {
      const r = await runDemo(FREE)
      expect(r.code, r.stderr).toBe(0)
      const moved =
        / {2}ports {6}in use by another process: 4318 \(OTLP, now :(\d+)\); --otlp-port names a port to use instead\n/.exec(
          r.stdout,
        )
      expect(moved, r.stdout).not.toBeNull()
      expect(r.stdout).toContain(`spans to OTLP :${moved![1]}\n`)
    } finally {
      await new Promise((r) => (holder === null ? r(undefined) : holder.close(r)))
    }
  }, 30_000)
})
