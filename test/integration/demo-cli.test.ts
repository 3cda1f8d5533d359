import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../helpers/build.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

function runCli(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`${root}bin/vigil.js`, ...args], {
      // a scratch working directory, so the demo's ./data store is not shared with other test files
      cwd: mkdtempSync(join(tmpdir(), 'vigil-demo-')),
      env: { ...process.env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`vigil ${args.join(' ')} did not exit within ${timeoutMs} ms\n${stdout}\n${stderr}`))
    }, timeoutMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

describe('vigil demo through the built CLI', () => {
  beforeAll(() => {
    // Built once per run by the vitest globalSetup (test/helpers/build.ts).
    ensureBuilt()
    expect(existsSync(`${root}dist/cli/commands/demo.js`)).toBe(true)
  }, 180_000)

  it('serves traffic through the gateway for --duration, then exits 0', async () => {
    const r = await runCli(
      [
        'demo',
        '--duration',
        '5s',
        '--rps',
        '20',
        '--status-every',
        '1s',
        '--first-incident',
        '2s',
        '--incident-every',
        '4s',
        '--incident-for',
        '1s',
        '--gateway-port',
        '0',
        '--admin-port',
        '0',
        '--mock-port-base',
        '0',
      ],
      90_000,
    )
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/vigil demo: gateway http:\/\/127\.0\.0\.1:\d+/)
    const served = /served (\d+) requests in \d+s \(([^;]*);/.exec(r.stdout)
    expect(served, r.stdout).not.toBeNull()
    expect(Number(served![1])).toBeGreaterThan(10)
    expect(served![2]).toMatch(/200: \d+/)
    expect(r.stdout).toMatch(/\] +[\d.]+ req\/s .* \| shop \w+ · users x\d \w+ · payments \w+/)
    expect(r.stdout).toMatch(/incident {3}pricing \(aws\): errors for 1s/)
    expect(r.stdout).toMatch(/dashboard {2}http:\/\/127\.0\.0\.1:\d+\/#token=\w+/)
    expect(r.stdout).toMatch(/vigil demo: stopping/)
  }, 120_000)
})
