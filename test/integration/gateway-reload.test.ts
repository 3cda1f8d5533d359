import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { startGateway, testConfig } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const client = new Agent({ keepAliveTimeout: 5000, connections: 16 })
const dir = mkdtempSync(join(tmpdir(), 'vigil-reload-'))
const file = join(dir, 'vigil.yaml')
let a: Upstream
let b: Upstream
let vigil: Vigil

function named(name: string) {
  return (_req: unknown, res: { end(s: string): void }) => {
    // a little latency so swaps land while requests are in flight
    setTimeout(() => res.end(name), Math.random() * 30)
  }
}

function writeConfig(target: string, extraRoute = ''): void {
  writeFileSync(
    file,
    `gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }
admin: { host: 127.0.0.1, port: 0, token: t }
telemetry: { enabled: false }
services:
  a: { targets: ["${a.url}"] }
  b: { targets: ["${b.url}"] }
routes:
  - { name: main, path: /, service: ${target} }
${extraRoute}`,
  )
}

beforeAll(async () => {
  a = await startUpstream(named('a') as never)
  b = await startUpstream(named('b') as never)
  writeConfig('a')
  vigil = await startVigil({ configFile: file, mode: 'embedded', logger: pino({ level: 'silent' }) })
})
afterAll(async () => {
  await vigil.stop()
  await Promise.all([a.close(), b.close(), client.close()])
  rmSync(dir, { recursive: true, force: true })
})

async function call(path = '/x', base = vigil.gatewayUrl): Promise<{ status: number; text: string }> {
  const res = await request(`${base}${path}`, { dispatcher: client })
  return { status: res.statusCode, text: await res.body.text() }
}

describe('config reload', () => {
  it('keeps the pools of targets that survive a swap and closes removed ones once drained', async () => {
    const g = await startGateway({
      // long upstream keep-alive, so only the release on swap can close b's connection
      services: { a: { targets: [a.url] }, b: { targets: [b.url], keepAliveTimeoutMs: 60_000 } },
      routes: [
        { name: 'a', path: '/a', service: 'a' },
        { name: 'b', path: '/b', service: 'b' },
      ],
    })
    try {
      a.reset()
      expect((await call('/a/1', g.url)).text).toBe('a')
      expect((await call('/b/1', g.url)).text).toBe('b')
      expect(b.connections()).toBe(1)
      const portBefore = a.seen[0].remotePort
      g.gw.swap(
        testConfig({
          services: { a: { targets: [a.url] } },
          routes: [{ name: 'a', path: '/', service: 'a' }],
        }),
      )
      expect((await call('/b/2', g.url)).text).toBe('a')
      expect(a.seen[1].remotePort).toBe(portBefore)
      const t0 = Date.now()
      while (b.connections() > 0 && Date.now() - t0 < 3_000) await new Promise((r) => setTimeout(r, 20))
      expect(b.connections()).toBe(0)
    } finally {
      await g.close()
    }
  })

  it('swaps the route table under load without dropping a request', async () => {
    const statuses = new Map<number, number>()
    const bodies = new Set<string>()
    let stop = false
    const worker = async () => {
      while (!stop) {
        try {
          const r = await call()
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
          bodies.add(r.text)
        } catch (err) {
          statuses.set(-1, (statuses.get(-1) ?? 0) + 1)
          throw err
        }
      }
    }
    const workers = Array.from({ length: 8 }, worker)
    let swapsUnderLoad = 0
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 150))
      writeConfig(i % 2 === 0 ? 'b' : 'a')
      if (vigil.gateway.inFlight() > 0) swapsUnderLoad++
      const result = await vigil.reload()
      // only a route's service moves: nothing in it waits for a restart
      expect(result).toMatchObject({ ok: true, routes: 1, restartRequired: [] })
    }
    stop = true
    await Promise.all(workers)
    expect([...statuses.keys()]).toEqual([200])
    expect(statuses.get(200)).toBeGreaterThan(20)
    expect(swapsUnderLoad).toBeGreaterThan(3)
    expect(bodies).toEqual(new Set(['a', 'b']))
  })

  it('applies new routes after a reload', async () => {
    writeConfig('a', '  - { name: extra, path: /extra, service: b }')
    expect(await vigil.reload()).toMatchObject({
      ok: true,
      routes: 2,
      changed: ['routes[1]'],
      restartRequired: [],
    })
    expect((await call('/extra/1')).text).toBe('b')
    expect((await call('/other')).text).toBe('a')
    expect(vigil.gateway.routes().map((r) => r.name)).toEqual(['main', 'extra'])
  })

  it('rejects an invalid file and keeps serving the old table', async () => {
    writeConfig('a')
    expect((await vigil.reload()).ok).toBe(true)
    writeFileSync(file, 'services: {}\nroutes:\n  - { path: /, service: ordrs }\n')
    const result = await vigil.reload()
    expect(result).toEqual({
      ok: false,
      problems: [
        `${file}: routes[0].service: unknown service "ordrs" (known: none; add one under services:)`,
      ],
    })
    expect(await call()).toEqual({ status: 200, text: 'a' })
  })
})
