import { Readable } from 'node:stream'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { startMockService, type MockService } from './mock-service.js'

const started: MockService[] = []
async function start(opts: Parameters<typeof startMockService>[0] = {}) {
  const s = await startMockService(opts)
  started.push(s)
  return s
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close()))
})

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers })
  const text = await res.body.text()
  return { status: res.statusCode, body: text ? JSON.parse(text) : null }
}

describe('mock service', () => {
  it('answers JSON with its name, the latency applied and the request id it saw', async () => {
    const s = await start({ name: 'orders', latencyMs: 5 })
    const r = await get(`${s.url}/orders/7`, { 'x-request-id': 'abc-123' })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({
      service: 'orders',
      method: 'GET',
      path: '/orders/7',
      latencyMs: 5,
      requestId: 'abc-123',
    })
  })

  it('reports null when no request id was sent, and serves /health', async () => {
    const s = await start({ name: 'users' })
    expect((await get(`${s.url}/x`)).body.requestId).toBeNull()
    expect(await get(`${s.url}/health`)).toEqual({ status: 200, body: { status: 'ok', service: 'users' } })
  })

  it('counts a streamed POST body without buffering it', async () => {
    const s = await start()
    const size = 5 * 1024 * 1024 + 3
    async function* chunks() {
      const c = Buffer.alloc(1024 * 1024, 1)
      for (let i = 0; i < 5; i++) yield c
      yield Buffer.from([1, 2, 3])
    }
    const res = await request(`${s.url}/upload`, { method: 'POST', body: Readable.from(chunks()) })
    const body = (await res.body.json()) as { bodyBytes: number; method: string }
    expect(body).toMatchObject({ bodyBytes: size, method: 'POST' })
    expect(s.stats().bodyBytes).toBe(size)
  })

  it('fails every request with 500 at error rate 1', async () => {
    const s = await start({ errorRate: 1 })
    expect((await get(`${s.url}/a`)).status).toBe(500)
    expect(s.stats().errors).toBe(1)
  })

  it('resets the connection at reset rate 1', async () => {
    const s = await start({ resetRate: 1 })
    await expect(request(`${s.url}/a`)).rejects.toThrow()
    expect(s.stats().resets).toBe(1)
  })

  it('honours per-request overrides for status, sleep and streamed bytes', async () => {
    const s = await start()
    expect((await get(`${s.url}/a?status=503`)).status).toBe(503)
    expect((await get(`${s.url}/a?sleep=20`)).body.latencyMs).toBe(20)
    const res = await request(`${s.url}/big?bytes=300000`)
    expect(res.headers['content-length']).toBe('300000')
    expect((await res.body.arrayBuffer()).byteLength).toBe(300000)
  })

  it('injects an outage through the control endpoint that ends by itself', async () => {
    let now = 1_000
    const s = await start({ name: 'payments', now: () => now })
    const res = await request(`${s.url}/_mock/incident`, {
      method: 'POST',
      body: JSON.stringify({ kind: 'outage', durationMs: 5_000 }),
    })
    expect(res.statusCode).toBe(202)
    expect(((await res.body.json()) as { incident: { untilMs: number } }).incident.untilMs).toBe(6_000)
    expect((await get(`${s.url}/pay`)).status).toBe(503)
    expect((await get(`${s.url}/health`)).status).toBe(503)
    now = 6_001
    expect((await get(`${s.url}/pay`)).status).toBe(200)
    expect((await get(`${s.url}/health`)).status).toBe(200)
  })

  it('injects errors and latency incidents from code', async () => {
    const s = await start({ latencyMs: 2, seed: 1 })
    s.injectIncident({ kind: 'errors', durationMs: 60_000, errorRate: 1 })
    expect((await get(`${s.url}/a`)).status).toBe(500)
    s.injectIncident({ kind: 'latency', durationMs: 60_000, factor: 10 })
    const r = await get(`${s.url}/a`)
    expect(r.status).toBe(200)
    expect(r.body.latencyMs).toBe(20)
    s.clearIncident()
    expect(s.activeIncident()).toBeNull()
  })

  it('rejects a bad incident with a code, message and fix', async () => {
    const s = await start()
    const res = await request(`${s.url}/_mock/incident`, {
      method: 'POST',
      body: '{"kind":"meteor","durationMs":10}',
    })
    expect(res.statusCode).toBe(400)
    const body = (await res.body.json()) as { code: string; message: string; fix: string }
    expect(body.code).toBe('VGL_ERR_SIM_INCIDENT')
    expect(body.message).toMatch(/kind: expected latency, errors or outage, got "meteor"/)
    expect(body.fix).toMatch(/durationMs/)
  })

  it('fails to listen on a taken port with VGL_ERR_SIM_LISTEN', async () => {
    const s = await start()
    await expect(startMockService({ port: s.port })).rejects.toMatchObject({ code: 'VGL_ERR_SIM_LISTEN' })
  })

  it('serves at most `concurrency` requests at once and queues the rest in arrival order', async () => {
    const s = await start({ latencyMs: 40, concurrency: 1 })
    const t0 = Date.now()
    const done: number[] = []
    await Promise.all([0, 1, 2, 3].map((i) => get(`${s.url}/q/${i}`).then(() => done.push(Date.now() - t0))))
    // one at a time: the fourth waited for three others' 40 ms each
    done.sort((a, b) => a - b)
    for (let i = 0; i < 4; i++) expect(done[i]).toBeGreaterThanOrEqual(40 * (i + 1) - 2)
    await expect(startMockService({ concurrency: 0 })).rejects.toThrow(
      /concurrency: expected a whole number ≥ 1/,
    )
  })

  it('closes with requests still sleeping', async () => {
    const s = await startMockService({ latencyMs: 10_000 })
    const pending = request(`${s.url}/slow`).catch((e: Error) => e)
    await new Promise((r) => setTimeout(r, 50))
    await s.close()
    expect(await pending).toBeInstanceOf(Error)
  })
})
