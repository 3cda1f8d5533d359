import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeSpans } from './codec.js'
import { OtlpDecodePool, type DecodeReply } from './otlp-pool.js'

const pools: OtlpDecodePool[] = []
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()))
})

function pool(extra: Partial<ConstructorParameters<typeof OtlpDecodePool>[0]> = {}): OtlpDecodePool {
  const p = new OtlpDecodePool({
    workers: 1,
    defaultEnv: 'test',
    maxAttributes: 64,
    maxBodyBytes: 16 * 1024 * 1024,
    maxBatchSize: 1000,
    ...extra,
  })
  pools.push(p)
  return p
}

/** An OTLP/JSON export request with `n` valid spans (a few attributes each). */
function jsonRequest(n: number): Buffer {
  const spans = Array.from({ length: n }, (_, i) => ({
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: (i + 1).toString(16).padStart(16, '0'),
    name: 'GET /items',
    kind: 2,
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000005000000',
    attributes: [
      { key: 'http.response.status_code', value: { intValue: '200' } },
      { key: 'url.path', value: { stringValue: `/items/${i}` } },
    ],
  }))
  return Buffer.from(
    JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'shop' } }] },
          scopeSpans: [{ spans }],
        },
      ],
    }),
  )
}

const ok = (r: DecodeReply) => {
  if (!r.ok) throw new Error(`decode failed: ${r.message}`)
  return r
}

describe('OtlpDecodePool', () => {
  it('decodes in a worker: the event loop keeps running while a large request is decoded', async () => {
    const p = pool({ maxBatchSize: 5000 })
    const body = jsonRequest(20_000) // ~4 MB
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    const r = ok(await p.decode(body, true, false))
    clearInterval(timer)
    expect(r.accepted).toBe(20_000)
    expect(r.batches).toHaveLength(4)
    expect(decodeSpans(r.batches[0]!)[0]).toMatchObject({ service: 'shop', env: 'test', name: 'GET /items' })
    expect(ticks).toBeGreaterThan(0)
  })

  it('gunzips in the worker and stops a gzip bomb at maxBodyBytes', async () => {
    const p = pool({ maxBodyBytes: 1024 * 1024 })
    const r = ok(await p.decode(gzipSync(jsonRequest(10)), true, true))
    expect(r.accepted).toBe(10)
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 32)) // 64 MiB of spaces, ~64 KiB compressed
    const b = await p.decode(bomb, true, true)
    expect(b).toMatchObject({ ok: false, kind: 'too_large' })
    const bad = await p.decode(Buffer.from('not gzip'), true, true)
    expect(bad).toMatchObject({ ok: false, kind: 'malformed', message: expect.stringContaining('gzip') })
  })

  it('reports a malformed body with its reason', async () => {
    const r = await pool().decode(Buffer.from('{"resourceSpans": 5}'), true, false)
    expect(r).toMatchObject({ ok: false, kind: 'malformed', message: expect.stringContaining('array') })
  })

  it("leaves the caller's small pooled buffers usable (only a buffer of its own is transferred)", async () => {
    const p = pool()
    const small = Buffer.from('{"resourceSpans":[]}') // lives in Node's shared Buffer pool
    const neighbour = Buffer.from('still here')
    ok(await p.decode(small, true, false))
    expect(neighbour.toString()).toBe('still here')
    expect(Buffer.from('new allocation').toString()).toBe('new allocation')
  })

  it('refuses work past decodeQueue per worker instead of queueing without bound', async () => {
    const p = pool({ maxQueuedPerWorker: 1 })
    const first = p.decode(jsonRequest(5000), true, false)
    await expect(p.decode(jsonRequest(1), true, false)).rejects.toMatchObject({
      code: 'VGL_ERR_OTLP_UNAVAILABLE',
    })
    expect(ok(await first).accepted).toBe(5000)
    expect(ok(await p.decode(jsonRequest(1), true, false)).accepted).toBe(1)
  })

  it('spreads requests over its workers and refuses new work once closed', async () => {
    const p = pool({ workers: 2 })
    const rs = await Promise.all([1, 2, 3, 4].map((n) => p.decode(jsonRequest(n), true, false)))
    expect(rs.map((r) => ok(r).accepted)).toEqual([1, 2, 3, 4])
    await p.close()
    await expect(p.decode(jsonRequest(1), true, false)).rejects.toMatchObject({
      code: 'VGL_ERR_OTLP_UNAVAILABLE',
    })
  })
})
