// The gateway's latency while its OTLP receiver is busy: `vigil gateway` (routing, telemetry,
// access log, OTLP/HTTP receiver in the same process) proxies a fixed rate of small requests while
// OTLP exporters post large span batches (~1 MB protobuf, 4096 spans) to it back to back. Reported
// per target: p50/p99/max of the proxied requests without and with the OTLP load, and the spans/s
// the receiver took meanwhile. Interleaved rounds; every phase of a round runs every target.
//
//   npm run bench -- otlp-gateway
//   BENCH_BASELINE=/path/to/other/built/checkout npm run bench -- otlp-gateway   (before/after)
//
// Knobs: BENCH_ROUNDS (3), BENCH_DURATION_S (8), BENCH_RATE (500 req/s), BENCH_OTLP_CLIENTS (2).
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { Pool } from 'undici'
import { makeRequest } from './otlp-request.mjs'

const SELF = fileURLToPath(import.meta.url)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8)
const RATE = Number(process.env.BENCH_RATE ?? 500)
const OTLP_CLIENTS = Number(process.env.BENCH_OTLP_CLIENTS ?? 2)
const SPANS = 4096

if (process.argv[2] === '--upstream') {
  const body = JSON.stringify({ ok: true })
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(body))
  })
  server.keepAliveTimeout = 65_000
  server.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${server.address().port}\n`))
  process.once('SIGTERM', () => server.close(() => process.exit(0)))
} else await main()

function child(argv, pattern, stream) {
  const p = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${argv.join(' ')} did not start`)), 30_000)
    p[stream].on('data', (c) => {
      if (out === null) return
      out += c.toString()
      const m = pattern(out)
      if (m !== null) {
        out = null
        clearTimeout(timer)
        resolve({ proc: p, ...m })
      }
    })
    p.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited with ${code}`)))
  })
}

function startVigil(name, root, upstream) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-otlp-'))
  const config = join(dir, 'vigil.yaml')
  writeFileSync(
    config,
    [
      'gateway: { host: 127.0.0.1, port: 0, accessLog: { destination: ' + join(dir, 'access.log') + ' } }',
      'admin: { port: 0, token: bench }',
      'telemetry: { otlp: { host: 127.0.0.1, port: 0 } }',
      `store: { kind: sqlite, path: ${join(dir, 'vigil.db')} }`,
      `services: { upstream: { targets: [${upstream}] } }`,
      'routes: [{ path: /, service: upstream }]',
      '',
    ].join('\n'),
  )
  let gateway = null
  let otlp = null
  return child(
    [join(root, 'bin', 'vigil.js'), 'gateway', '--config', config],
    (out) => {
      gateway ??= /"url":"http:\/\/[^"]*:(\d+)"[^\n]*"msg":"gateway listening"/.exec(out)?.[1] ?? null
      otlp ??= /"url":"(http:\/\/[^"]*)\/v1\/traces"[^\n]*OTLP/.exec(out)?.[1] ?? null
      return gateway !== null && otlp !== null ? { url: `http://127.0.0.1:${gateway}`, otlp } : null
    },
    'stderr',
  ).then((c) => ({ ...c, name, dir }))
}

/** Posts `body` back to back from OTLP_CLIENTS connections until `stop.done`; counts accepted spans. */
async function otlpLoad(url, body, stop) {
  const pool = new Pool(url, { connections: OTLP_CLIENTS })
  const count = { spans: 0, refused: 0 }
  const worker = async () => {
    while (!stop.done) {
      const r = await pool.request({
        path: '/v1/traces',
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf' },
        body,
      })
      await r.body.arrayBuffer()
      if (r.statusCode === 200) count.spans += SPANS
      else {
        count.refused++
        await new Promise((res) => setTimeout(res, 50))
      }
    }
  }
  const done = Promise.all(Array.from({ length: OTLP_CLIENTS }, worker))
  return { count, finish: () => done.then(() => pool.close()) }
}

async function measure(target, body, withOtlp) {
  const stop = { done: false }
  const load = withOtlp ? await otlpLoad(target.otlp, body, stop) : null
  if (load !== null) await new Promise((r) => setTimeout(r, 500)) // the OTLP load is running first
  const r = await autocannon({
    url: `${target.url}/bench`,
    connections: 10,
    overallRate: RATE,
    duration: DURATION_S,
  })
  stop.done = true
  await load?.finish()
  return {
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    rps: r.requests.average,
    errors: r.errors + r.timeouts + r.non2xx,
    spansPerS: load === null ? 0 : load.count.spans / (DURATION_S + 0.5),
    refused: load?.count.refused ?? 0,
  }
}

async function main() {
  const body = makeRequest(SPANS).protobuf
  const loadBefore = loadavg()[0].toFixed(2)
  console.log(
    `otlp-gateway bench ${new Date().toISOString()} · Node ${process.version} · load average ${loadBefore} · ` +
      `${ROUNDS} rounds × ${DURATION_S} s at ${RATE} req/s (10 connections); OTLP: ${OTLP_CLIENTS} clients posting ${SPANS} spans (${(body.length / 1e6).toFixed(2)} MB protobuf) back to back`,
  )
  const upstream = await child(
    [SELF, '--upstream'],
    (out) => {
      const m = /PORT (\d+)/.exec(out)
      return m === null ? null : { url: `http://127.0.0.1:${m[1]}` }
    },
    'stdout',
  )
  const targets = [await startVigil('this checkout', ROOT, upstream.url)]
  if (process.env.BENCH_BASELINE)
    targets.push(
      await startVigil(`baseline ${process.env.BENCH_BASELINE}`, process.env.BENCH_BASELINE, upstream.url),
    )
  const results = new Map(targets.map((t) => [t.name, { idle: [], otlp: [] }]))
  try {
    for (const t of targets) await measure(t, body, true) // warm-up: JIT, pools, workers
    for (let round = 0; round < ROUNDS; round++) {
      const order = targets.map((_, i) => targets[(i + round) % targets.length])
      for (const withOtlp of [false, true]) {
        for (const t of order) {
          const m = await measure(t, body, withOtlp)
          results.get(t.name)[withOtlp ? 'otlp' : 'idle'].push(m)
          console.log(
            `round ${round + 1} ${t.name.padEnd(40)} ${withOtlp ? 'OTLP load' : 'no OTLP  '}  p50 ${m.p50} ms  p99 ${m.p99} ms  max ${m.max} ms  ${m.rps.toFixed(0)} req/s` +
              (withOtlp ? `  OTLP ${Math.round(m.spansPerS)} spans/s, ${m.refused} refused` : '') +
              (m.errors > 0 ? `  (${m.errors} errors)` : ''),
          )
        }
      }
    }
  } finally {
    for (const t of [...targets, upstream]) t.proc.kill('SIGTERM')
    for (const t of targets) rmSync(t.dir, { recursive: true, force: true })
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log(
    `\n| gateway | p50 / p99 / max ms, no OTLP (median of ${ROUNDS}) | p50 / p99 / max ms, under OTLP load | OTLP spans/s taken |`,
  )
  console.log('|---|---|---|---|')
  for (const [name, r] of results) {
    const f = (xs) =>
      `${median(xs.map((x) => x.p50))} / ${median(xs.map((x) => x.p99))} / ${median(xs.map((x) => x.max))}`
    console.log(
      `| ${name} | ${f(r.idle)} | ${f(r.otlp)} | ${Math.round(median(r.otlp.map((x) => x.spansPerS)))} |`,
    )
  }
  console.log(`\nload average before ${loadBefore}, after ${loadavg()[0].toFixed(2)}`)
}
