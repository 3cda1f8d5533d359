// OTLP ingest benchmarks (issue 5: ≥ 20,000 spans/s sustained into the store; this file measures
// decode → bus, the store engineer measures bus → store). Requests are made by the official
// OpenTelemetry serializers (otlp-transformer 0.223.1) from spans recorded by sdk-trace-base.
//  1. decode only: protobufjs decode alone (baseline) vs Vigil's decode + validation + mapping;
//  2. decode → bus → consumer (decodeSpans + ack): MemoryBus, and NatsBus (JetStream) when NATS is up;
//  3. over HTTP: a null receiver that reads and discards the body (baseline) vs startOtlpReceiver
//     publishing to a MemoryBus, 4 concurrent keep-alive clients posting 512-span protobuf requests.
// Usage: npm run bench -- otlp   (QUICK=1 shortens every phase)
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { connect as netConnect } from 'node:net'
import { gzipSync } from 'node:zlib'
import { Pool } from 'undici'
import { MemoryBus } from '../dist/bus/memory.js'
import { decodeSpans, encodeSpans } from '../dist/telemetry/codec.js'
import {
  busSpanSink,
  decodeOtlpJson,
  decodeOtlpProtobuf,
  startOtlpReceiver,
} from '../dist/telemetry/otlp-ingest.js'
import { ExportTraceServiceRequest } from '../dist/telemetry/otlp-schema.js'
import { makeRequest } from './otlp-request.mjs'

const QUICK = process.env.QUICK === '1'
const PHASE_MS = QUICK ? 700 : 2000
const SPANS_PER_REQUEST = 512

const fmt = (x) =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0)

function loop(fn) {
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < PHASE_MS) n += fn()
  return (n / (performance.now() - t0)) * 1000
}

async function loopAsync(fn) {
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < PHASE_MS) n += await fn()
  return { rate: (n / (performance.now() - t0)) * 1000, n }
}

const req = makeRequest(SPANS_PER_REQUEST)
console.log(`node ${process.version}, ${new Date().toISOString()}`)
console.log(
  `request: ${SPANS_PER_REQUEST} spans, protobuf ${req.protobuf.length} B (gzip ${gzipSync(req.protobuf).length} B), JSON ${req.json.length} B`,
)

console.log('\n1. decode only, spans/s (one core)')
console.log('| variant | spans/s |')
console.log('|---|---|')
for (let round = 0; round < 2; round++) {
  const rows = [
    [
      'baseline: protobufjs decode alone (no mapping)',
      () => (ExportTraceServiceRequest.decode(req.protobuf), SPANS_PER_REQUEST),
    ],
    [
      'decodeOtlpProtobuf (decode + validate + map to SpanRecord)',
      () => decodeOtlpProtobuf(req.protobuf).spans.length,
    ],
    ['baseline: JSON.parse alone', () => (JSON.parse(req.json.toString()), SPANS_PER_REQUEST)],
    ['decodeOtlpJson', () => decodeOtlpJson(req.json).spans.length],
  ]
  for (const [name, fn] of rows) console.log(`| ${name} (round ${round + 1}) | ${fmt(loop(fn))} |`)
}

async function throughBus(bus, subject, label) {
  let consumed = 0
  const sub = await bus.subscribe(subject, (m) => ((consumed += decodeSpans(m.data).length), m.ack()), {
    durable: 'bench',
    maxInFlight: 1000,
  })
  const sink = busSpanSink(bus, { subject, maxBatchSize: 512 })
  const t0 = performance.now()
  const { n } = await loopAsync(async () => {
    const { spans } = decodeOtlpProtobuf(req.protobuf)
    const batches = []
    for (let i = 0; i < spans.length; i += sink.maxBatchSize)
      batches.push(encodeSpans(spans.slice(i, i + sink.maxBatchSize)))
    await sink.publish(batches)
    return spans.length
  })
  const until = Date.now() + 60_000
  while (consumed < n && Date.now() < until) await new Promise((r) => setTimeout(r, 5))
  const secs = (performance.now() - t0) / 1000
  await sub.close()
  console.log(`| ${label} | ${fmt(n / secs)} | ${n} | ${consumed} |`)
}

console.log('\n2. decode → bus → consumer (decodeSpans + ack), spans/s over the whole run until all consumed')
console.log('| bus | spans/s end to end | published | consumed |')
console.log('|---|---|---|---|')
{
  const bus = new MemoryBus()
  await throughBus(bus, 'bench.spans', 'MemoryBus')
  await bus.close()
}
const natsUp = await new Promise((resolve) => {
  const s = netConnect(4222, '127.0.0.1')
  s.once('connect', () => (s.destroy(), resolve(true)))
  s.once('error', () => resolve(false))
})
if (natsUp) {
  const { NatsBus } = await import('../dist/bus/nats.js')
  const run = randomBytes(4).toString('hex')
  const subject = `vigilbench.${run}.spans`
  const bus = await NatsBus.connect({
    servers: '127.0.0.1:4222',
    streams: [{ name: `VIGILBENCH_${run}`, subjects: [subject] }],
  })
  try {
    await throughBus(bus, subject, 'NatsBus (JetStream, file storage)')
  } finally {
    await bus.deleteStreams()
    await bus.close()
  }
} else console.log('| NatsBus | skipped: NATS not reachable on 127.0.0.1:4222 | | |')

console.log(
  `\n3. over HTTP: 4 concurrent clients, ${SPANS_PER_REQUEST}-span protobuf requests, ${PHASE_MS} ms`,
)
console.log('| receiver | spans/s | requests/s |')
console.log('|---|---|---|')
async function drive(url, label, consumedRef) {
  const pool = new Pool(url, { connections: 4, pipelining: 1 })
  let reqs = 0
  const t0 = performance.now()
  const worker = async () => {
    while (performance.now() - t0 < PHASE_MS) {
      const r = await pool.request({
        path: '/v1/traces',
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf' },
        body: req.protobuf,
      })
      await r.body.arrayBuffer()
      if (r.statusCode !== 200) throw new Error(`status ${r.statusCode}`)
      reqs++
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()])
  if (consumedRef !== null) {
    const until = Date.now() + 30_000
    while (consumedRef.n < reqs * SPANS_PER_REQUEST && Date.now() < until)
      await new Promise((r) => setTimeout(r, 5))
  }
  const secs = (performance.now() - t0) / 1000
  await pool.close()
  console.log(`| ${label} | ${fmt((reqs * SPANS_PER_REQUEST) / secs)} | ${fmt(reqs / secs)} |`)
}
{
  const nul = createServer((rq, rs) => {
    rq.resume()
    rq.on('end', () =>
      rs.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' }).end(),
    )
  })
  await new Promise((r) => nul.listen(0, '127.0.0.1', r))
  await drive(
    `http://127.0.0.1:${nul.address().port}`,
    'baseline: null receiver (reads and discards the body)',
    null,
  )
  nul.close()
  const bus = new MemoryBus()
  const consumed = { n: 0 }
  await bus.subscribe('vigil.spans', (m) => ((consumed.n += decodeSpans(m.data).length), m.ack()), {
    durable: 'bench',
  })
  const rx = await startOtlpReceiver({ host: '127.0.0.1', port: 0 }, busSpanSink(bus))
  await drive(rx.url, 'startOtlpReceiver → MemoryBus → consumer', consumed)
  await rx.close()
  await bus.close()
}
