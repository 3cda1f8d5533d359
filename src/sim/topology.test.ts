import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { startDemoTopology, type DemoTopology } from './topology.js'

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

/** A stand-in OTLP receiver that counts the trace exports it is sent. */
async function receiver(): Promise<{ url: string; posts: () => number; close: () => Promise<void> }> {
  let posts = 0
  const s = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') posts++
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  servers.push(s)
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    posts: () => posts,
    close: () =>
      new Promise<void>((r) => {
        s.close(() => r())
        s.closeAllConnections()
      }),
  }
}

async function traffic(topo: DemoTopology, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await (await request(`${topo.aggregator.url}/shop/a`)).body.dump()
}

describe('demo topology', () => {
  it('exports the spans of its requests to the receiver, the last ones when it closes', async () => {
    const rx = await receiver()
    const topo = await startDemoTopology({ otlpUrl: rx.url, exportEveryMs: 60_000, seed: 1 })
    await traffic(topo, 20)
    expect(rx.posts()).toBe(0)
    await topo.close()
    expect(rx.posts()).toBeGreaterThan(0)
  })

  it('sends a batch again when a loaded receiver answers 503 with Retry-After', async () => {
    // each provider's instance id is in its export body as plain bytes
    const instance = (body: Buffer) => /[a-z-]+-\d+-1/.exec(body.toString('latin1'))?.[0] ?? '?'
    let refused: string | null = null
    const accepted: string[] = []
    const s = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const who = instance(Buffer.concat(chunks))
        if (refused === null) {
          refused = who
          res.writeHead(503, { 'retry-after': '3', 'content-type': 'application/json' }).end('{}')
          return
        }
        accepted.push(who)
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    servers.push(s)
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`
    const topo = await startDemoTopology({ otlpUrl: url, exportEveryMs: 60_000, seed: 3 })
    try {
      await traffic(topo, 20)
      await topo.flush()
      expect(refused).not.toBeNull()
      expect(accepted).toContain(refused)
    } finally {
      await topo.close()
    }
  }, 30_000)

  it('closes within seconds when the receiver is already gone (Vigil stopped first)', async () => {
    const rx = await receiver()
    const topo = await startDemoTopology({ otlpUrl: rx.url, exportEveryMs: 60_000, seed: 2 })
    await traffic(topo, 30)
    await rx.close()
    const t0 = Date.now()
    await topo.close()
    // the exporter's default would retry each queued batch for 10 s
    expect(Date.now() - t0).toBeLessThan(6_000)
  }, 30_000)
})
