import { Readable } from 'node:stream'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const TOTAL = 100 * 1024 * 1024
const CHUNK = 64 * 1024
/**
 * Live memory (V8 heap plus Buffers) may grow by at most this much while 100 MB pass through;
 * a gateway that buffered the body would show at least TOTAL. Client, gateway and upstream share
 * this process, so this is a coarse bound; the precise one is MAX_IN_TRANSIT: bytes the sender
 * has produced that the receiver has not yet seen (socket buffers on two hops plus stream
 * high-water marks), sampled throughout.
 */
const MAX_GROWTH = 48 * 1024 * 1024
const MAX_IN_TRANSIT = 24 * 1024 * 1024

// Without frequent collections the sample mostly measures chunks already passed on but not yet
// collected (RSS, which malloc does not give back, once went past 75 MB that way); the runner does
// not start Node with --expose-gc, so take it here.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const client = new Agent({ keepAliveTimeout: 1000 })
let up: Upstream
let g: TestGateway
let received = 0
let produced = 0
let maxInTransit = 0
function sample(): void {
  maxInTransit = Math.max(maxInTransit, produced - received)
}

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    if (req.method === 'POST') {
      received = 0
      req.on('data', (c: Buffer) => {
        received += c.length
        sample()
      })
      req.on('end', () => res.end(String(received)))
      return
    }
    // Download: write 100 MB in chunks, honouring backpressure.
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(TOTAL) })
    const chunk = Buffer.alloc(CHUNK, 0x62)
    let sent = 0
    const pump = () => {
      while (sent < TOTAL) {
        sent += CHUNK
        produced += CHUNK
        sample()
        if (!res.write(chunk)) {
          res.once('drain', pump)
          return
        }
      }
      res.end()
    }
    pump()
  })
  g = await startGateway({
    gateway: { bodyLimitBytes: 200 * 1024 * 1024 },
    services: { s: { targets: [up.url] } },
    routes: [{ path: '/', service: 's' }],
  })
})
afterAll(async () => {
  await g.close()
  await up.close()
  await client.close()
})

/** Samples live memory while `work` runs, collecting every 20 ms; returns the peak growth. */
async function peakGrowth(work: () => Promise<void>): Promise<number> {
  received = 0
  produced = 0
  maxInTransit = 0
  gc()
  const live = (): number => {
    const m = process.memoryUsage()
    return m.heapUsed + m.arrayBuffers
  }
  const start = live()
  let peak = start
  let ticks = 0
  const timer = setInterval(() => {
    if (++ticks % 2 === 0) gc()
    peak = Math.max(peak, live())
  }, 10)
  try {
    await work()
  } finally {
    clearInterval(timer)
  }
  return Math.max(peak, live()) - start
}

function body(total: number): Readable {
  const chunk = Buffer.alloc(CHUNK, 0x61)
  let sent = 0
  return new Readable({
    read() {
      if (sent >= total) this.push(null)
      else {
        sent += CHUNK
        produced += CHUNK
        sample()
        this.push(chunk)
      }
    },
  })
}

describe('gateway streaming', () => {
  it('streams a 100 MB upload to the upstream with bounded memory', async () => {
    let status = 0
    let text = ''
    const growth = await peakGrowth(async () => {
      const res = await request(`${g.url}/upload`, {
        method: 'POST',
        headers: { 'content-length': String(TOTAL) },
        body: body(TOTAL),
        dispatcher: client,
      })
      status = res.statusCode
      text = await res.body.text()
    })
    expect(status).toBe(200)
    expect(Number(text)).toBe(TOTAL)
    expect(maxInTransit).toBeLessThan(MAX_IN_TRANSIT)
    expect(growth).toBeLessThan(MAX_GROWTH)
  })

  it('streams a chunked 100 MB upload (no Content-Length) through the body limit counter', async () => {
    let text = ''
    const growth = await peakGrowth(async () => {
      const res = await request(`${g.url}/upload`, { method: 'POST', body: body(TOTAL), dispatcher: client })
      text = await res.body.text()
    })
    expect(Number(text)).toBe(TOTAL)
    expect(maxInTransit).toBeLessThan(MAX_IN_TRANSIT)
    expect(growth).toBeLessThan(MAX_GROWTH)
  })

  it('streams a 100 MB download to the client with bounded memory', async () => {
    let got = 0
    const growth = await peakGrowth(async () => {
      const res = await request(`${g.url}/download`, { dispatcher: client })
      expect(res.statusCode).toBe(200)
      for await (const c of res.body) {
        got += (c as Buffer).length
        received += (c as Buffer).length
        sample()
      }
    })
    expect(got).toBe(TOTAL)
    expect(maxInTransit).toBeLessThan(MAX_IN_TRANSIT)
    expect(growth).toBeLessThan(MAX_GROWTH)
  })
})
