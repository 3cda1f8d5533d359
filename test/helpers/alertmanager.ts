/**
 * @module A real Prometheus Alertmanager (the Debian package `prometheus-alertmanager`) started
 * on a loopback port for a test, with its own config and storage in a temp dir. On a laptop
 * without it, tests skip with one line; under CI=true a missing binary fails the run (.ci/run
 * installs it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const CANDIDATES = ['prometheus-alertmanager', 'alertmanager']

/** The Alertmanager binary, or null (one line printed; throws under CI=true). */
export function alertmanagerBinary(): string | null {
  for (const name of CANDIDATES) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' })
    if (r.status === 0 && r.stdout.trim() !== '') return r.stdout.trim()
  }
  const why = 'prometheus-alertmanager is not installed (apt-get install -y prometheus-alertmanager)'
  if (process.env.CI === 'true') throw new Error(`${why}; CI=true requires it (.ci/run installs it)`)
  process.stderr.write(`skipping Alertmanager tests: ${why}\n`)
  return null
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

/** One alert as Alertmanager's `GET /api/v2/alerts` lists it. */
export interface GettableAlert {
  labels: Record<string, string>
  annotations: Record<string, string>
  status: { state: string }
  endsAt: string
}

export interface RunningAlertmanager {
  url: string
  /** GET /api/v2/alerts (active, silenced and inhibited alerts) */
  alerts(): Promise<GettableAlert[]>
  close(): Promise<void>
}

export async function startAlertmanager(binary: string): Promise<RunningAlertmanager> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-am-'))
  const config = join(dir, 'alertmanager.yml')
  writeFileSync(config, "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n")
  let child: ChildProcess | null = null
  let log = ''
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    child = spawn(
      binary,
      [
        `--config.file=${config}`,
        `--storage.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    )
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()))
    const until = Date.now() + 15_000
    while (Date.now() < until && child.exitCode === null) {
      const ok = await fetch(`${url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      )
      if (ok) {
        const c = child
        return {
          url,
          alerts: async () => (await (await fetch(`${url}/api/v2/alerts`)).json()) as GettableAlert[],
          close: async () => {
            if (c.exitCode === null) {
              c.kill('SIGTERM')
              await new Promise((r) => c.once('exit', r))
            }
            rmSync(dir, { recursive: true, force: true })
          },
        }
      }
      await new Promise((r) => setTimeout(r, 100))
    }
    if (child.exitCode === null) child.kill('SIGKILL')
  }
  rmSync(dir, { recursive: true, force: true })
  throw new Error(`Alertmanager did not start:\n${log}`)
}
