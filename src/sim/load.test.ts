import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { runLoad } from './load.js'
import { startMockService } from './mock-service.js'

describe('load generator', () => {
  it('sends at about the requested rate, counts statuses and reports latency quantiles', async () => {
    const svc = await startMockService({ name: 'orders', latencyMs: 2 })
    try {
      const s = await runLoad({ target: `${svc.url}/orders`, rps: 100, durationMs: 1500, seed: 1 })
      // Loose bounds: the machine is shared; the point is "about 150", not a timing claim.
      expect(s.sent).toBeGreaterThan(60)
      // The end timer may fire late on a busy machine; the schedule follows the real elapsed time.
      expect(s.sent).toBeLessThanOrEqual(Math.ceil((100 * s.durationMs) / 1000) + 2)
      expect(s.statusCounts['200']).toBe(s.completed)
      expect(s.completed + s.failed + s.aborted).toBe(s.sent)
      expect(s.latencyMs.p50).toBeGreaterThan(1)
      expect(s.latencyMs.p99).toBeGreaterThanOrEqual(s.latencyMs.p50)
      expect(svc.stats().requests).toBeGreaterThanOrEqual(s.completed)
    } finally {
      await svc.close()
    }
  })

  it('never runs past its duration: slow requests are aborted at the end', async () => {
    const svc = await startMockService({ latencyMs: 30_000 })
    try {
      const t0 = Date.now()
      const s = await runLoad({ target: `${svc.url}/slow`, rps: 20, durationMs: 800 })
      expect(Date.now() - t0).toBeLessThan(5_000)
      expect(s.completed).toBe(0)
      expect(s.aborted).toBe(s.sent)
      expect(s.sent).toBeGreaterThan(0)
    } finally {
      await svc.close()
    }
  })

  it('drops requests due while the concurrency bound is reached', async () => {
    const svc = await startMockService({ latencyMs: 30_000 })
    try {
      const s = await runLoad({ target: `${svc.url}/slow`, rps: 200, durationMs: 600, concurrency: 3 })
      expect(s.sent).toBe(3)
      expect(s.dropped).toBeGreaterThan(0)
    } finally {
      await svc.close()
    }
  })

  it('sends X-API-Key and spreads over paths', async () => {
    const seen: Array<{ path: string; key: string | undefined }> = []
    const server = createServer((req, res) => {
      seen.push({ path: req.url ?? '', key: req.headers['x-api-key'] as string | undefined })
      res.end('ok')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const s = await runLoad({
        target: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        paths: ['/a', '/b'],
        keys: ['k1'],
        rps: 50,
        durationMs: 500,
        pattern: 'abusive',
      })
      expect(s.completed).toBeGreaterThan(5)
      expect(s.completed).toBe(seen.length)
      expect(new Set(seen.map((r) => r.key))).toEqual(new Set(['k1']))
      expect(new Set(seen.map((r) => r.path))).toEqual(new Set(['/a', '/b']))
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('counts connection failures by code', async () => {
    const svc = await startMockService({ resetRate: 1 })
    try {
      const s = await runLoad({ target: `${svc.url}/x`, rps: 50, durationMs: 500 })
      expect(s.failed).toBeGreaterThan(0)
      expect(Object.keys(s.failures).length).toBeGreaterThan(0)
    } finally {
      await svc.close()
    }
  })

  it('stops early on abort', async () => {
    const svc = await startMockService()
    try {
      const ac = new AbortController()
      setTimeout(() => ac.abort(), 200)
      const t0 = Date.now()
      await runLoad({ target: svc.url, rps: 10, durationMs: 60_000, signal: ac.signal })
      expect(Date.now() - t0).toBeLessThan(10_000)
    } finally {
      await svc.close()
    }
  })

  it('rejects a target that is not an http URL', async () => {
    await expect(runLoad({ target: 'localhost:8080', rps: 1, durationMs: 10 })).rejects.toMatchObject({
      code: 'VGL_ERR_SIM_TARGET',
    })
  })
})

describe('load progress', () => {
  it('reports progress with status counts and interval latency', async () => {
    const svc = await startMockService({ latencyMs: 1 })
    try {
      const seen: Array<{ statusCounts: Readonly<Record<string, number>>; p50: number }> = []
      await runLoad({
        target: `${svc.url}/p`,
        rps: 100,
        durationMs: 1200,
        progressIntervalMs: 200,
        onProgress: (p) => seen.push({ statusCounts: p.statusCounts, p50: p.intervalLatencyMs.p50 }),
      })
      expect(seen.length).toBeGreaterThan(1)
      const last = seen[seen.length - 1]
      expect(last.statusCounts['200']).toBeGreaterThan(0)
      expect(seen.some((s) => s.p50 > 0)).toBe(true)
    } finally {
      await svc.close()
    }
  })
})
