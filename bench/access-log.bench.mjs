// Access-log serializer: lines/s of the default `json` format and of `ecs` (Elastic Common Schema),
// against JSON.stringify of the same record (the generic path) in the same run. Interleaved rounds,
// median reported. The destination is /dev/null, so this is the serializer plus the chunked
// hand-over to sonic-boom, not the disk.
// Usage: npm run bench -- access-log   (QUICK=1 shortens it). BENCH_BASELINE=/path/to/other/checkout
// adds that checkout's built `json` serializer as a row (to compare a change with the tree before it).
import { AccessLog } from '../dist/gateway/access-log.js'

const QUICK = process.env.QUICK === '1'
const LINES = QUICK ? 50_000 : 300_000
const ROUNDS = QUICK ? 3 : 7

const exchanges = Array.from({ length: 64 }, (_, i) => ({
  requestId: `7f3c2a1b9d8e4f60a1b2c3d4e5f6${String(i).padStart(4, '0')}`,
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: '00f067aa0ba902b7',
  plan: { name: 'orders', service: { name: 'orders-svc' } },
  method: 'GET',
  path: `/orders/${i}/items?page=2`,
  target: 'http://127.0.0.1:9001',
  status: 200,
  outcome: 'ok',
  latencyMs: 1.23456 + i,
  attempts: 1,
  bytesIn: 0,
  bytesOut: 45,
}))

const cfg = (format) => ({ enabled: true, sampleRate: 1, destination: '/dev/null', format })

async function timeLog(log) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < LINES; i++) log.write(exchanges[i & 63])
  const ns = Number(process.hrtime.bigint() - t0)
  await new Promise((r) => setImmediate(r))
  return (LINES * 1e9) / ns
}

function timeStringify() {
  let sink = 0
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < LINES; i++) {
    const ex = exchanges[i & 63]
    const line = JSON.stringify({
      level: 30,
      time: new Date().toISOString(),
      type: 'access',
      requestId: ex.requestId,
      traceId: ex.traceId,
      route: ex.plan.name,
      service: ex.plan.service.name,
      method: ex.method,
      path: ex.path,
      target: ex.target,
      status: ex.status,
      outcome: ex.outcome,
      latencyMs: ex.latencyMs,
      attempts: ex.attempts,
      bytesIn: ex.bytesIn,
      bytesOut: ex.bytesOut,
    })
    sink += line.length
  }
  const ns = Number(process.hrtime.bigint() - t0)
  if (sink === 0) throw new Error('unreachable')
  return (LINES * 1e9) / ns
}

const targets = [
  ['JSON.stringify of the record (baseline)', null],
  ['format: json (default)', cfg('json')],
  ['format: ecs', cfg('ecs')],
]
if (process.env.BENCH_BASELINE) {
  const { AccessLog: Before } = await import(`${process.env.BENCH_BASELINE}/dist/gateway/access-log.js`)
  targets.push(['format: json, BENCH_BASELINE tree', { before: Before }])
}
const logs = targets.map(([, c]) =>
  c === null ? null : c.before !== undefined ? new c.before(cfg('json')) : new AccessLog(c),
)
const results = targets.map(() => [])
for (let r = 0; r < ROUNDS; r++)
  for (let k = 0; k < targets.length; k++) {
    const i = (k + r) % targets.length
    results[i].push(logs[i] === null ? timeStringify() : await timeLog(logs[i]))
  }
for (const l of logs) await l?.close()
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
console.log(`access log, ${LINES.toLocaleString('en-US')} lines per round, ${ROUNDS} rounds (median, range)`)
console.log('| serializer | lines/s | range |')
console.log('|---|---|---|')
for (let i = 0; i < targets.length; i++) {
  const xs = results[i]
  const f = (x) => `${(x / 1e6).toFixed(2)} M`
  console.log(`| ${targets[i][0]} | ${f(median(xs))} | ${f(Math.min(...xs))}–${f(Math.max(...xs))} |`)
}
