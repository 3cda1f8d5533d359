/**
 * End to end through the built CLI (`node bin/vigil.js`): the quick start serves with only
 * UPSTREAM_URL set, and SIGTERM drains in-flight requests before exiting 0.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../helpers/build.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'vigil-shutdown-'))
const client = new Agent({ keepAliveTimeout: 5000, connections: 10 })
const children: ChildProcess[] = []
let up: Upstream

beforeAll(async () => {
  // The CLI runs compiled code, built once per run by the vitest globalSetup.
  ensureBuilt()
  if (!existsSync(join(root, 'dist/cli/runtime.js')))
    throw new Error('build failed: dist/cli/runtime.js missing')
  up = await startUpstream((req, res) => {
    const ms = Number(new URL(req.url!, 'http://x').searchParams.get('sleep') ?? 0)
    setTimeout(() => res.end(`done ${req.url}`), ms)
  })
}, 180_000)
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
})
afterAll(async () => {
  await up.close()
  await client.close()
  rmSync(dir, { recursive: true, force: true })
})

/** Spawns the CLI and resolves with the gateway URL once it logs that it is ready. */
function spawnVigil(
  args: string[],
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(root, 'bin/vigil.js'), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  children.push(child)
  return new Promise((resolve, reject) => {
    let log = ''
    const timer = setTimeout(() => reject(new Error(`vigil did not start:\n${log}`)), 30_000)
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString()
      const m = /"gatewayUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/.exec(log)
      if (m) {
        clearTimeout(timer)
        resolve({ child, url: m[1] })
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`vigil exited with ${code}:\n${log}`))
    })
  })
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode)
    else child.on('exit', (code) => resolve(code))
  })
}

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url, { dispatcher: client })
  return { status: res.statusCode, text: await res.body.text() }
}

describe('vigil start / gateway processes', () => {
  it('serves examples/proxy.yaml with only UPSTREAM_URL set (plus free ports for the test)', async () => {
    const { child, url } = await spawnVigil(['start', '--config', 'examples/proxy.yaml'], {
      UPSTREAM_URL: up.url,
      PORT: '0',
      ADMIN_PORT: '0',
      OTLP_PORT: '0',
    })
    expect(await get(`${url}/hello`)).toEqual({ status: 200, text: 'done /hello' })
    child.kill('SIGTERM')
    expect(await exitOf(child)).toBe(0)
  })

  it('reloads the config file on SIGHUP and rejects an invalid one', async () => {
    const file = join(dir, 'hup.yaml')
    const write = (path: string) =>
      writeFileSync(
        file,
        `gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }
admin: { host: 127.0.0.1, port: 0 }
telemetry: { enabled: false }
services: { s: { targets: ["${up.url}"] } }
routes: [{ path: ${path}, service: s }]
`,
      )
    write('/a')
    const { child, url } = await spawnVigil(['start', '--config', file], {})
    expect((await get(`${url}/b`)).status).toBe(404)
    write('/b')
    child.kill('SIGHUP')
    const t0 = Date.now()
    while ((await get(`${url}/b`)).status !== 200) {
      if (Date.now() - t0 > 15_000) throw new Error('SIGHUP did not reload the config')
      await new Promise((r) => setTimeout(r, 100))
    }
    expect((await get(`${url}/a`)).status).toBe(404)
    writeFileSync(file, 'routes: [{ path: /c, service: nope }]\n')
    child.kill('SIGHUP')
    await new Promise((r) => setTimeout(r, 1000))
    expect((await get(`${url}/b`)).status).toBe(200)
    child.kill('SIGTERM')
    expect(await exitOf(child)).toBe(0)
  })

  it('on SIGTERM stops accepting, drains in-flight requests, then exits 0', async () => {
    const file = join(dir, 'vigil.yaml')
    writeFileSync(
      file,
      `gateway: { host: 127.0.0.1, port: 0, shutdownGraceMs: 10000, accessLog: { enabled: false } }
admin: { host: 127.0.0.1, port: 0 }
telemetry: { enabled: false }
services: { s: { targets: ["${up.url}"] } }
routes: [{ path: /, service: s }]
`,
    )
    const { child, url } = await spawnVigil(['gateway', '--config', file], {})
    const inflight = Array.from({ length: 4 }, (_, i) => get(`${url}/slow${i}?sleep=1500`))
    await new Promise((r) => setTimeout(r, 400))
    const t0 = Date.now()
    child.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 300))
    await expect(request(`${url}/late`, { dispatcher: new Agent() })).rejects.toThrow()
    const results = await Promise.all(inflight)
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200])
    expect(results[2].text).toBe('done /slow2?sleep=1500')
    expect(await exitOf(child)).toBe(0)
    expect(Date.now() - t0).toBeLessThan(8000)
  })
})
