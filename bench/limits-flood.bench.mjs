// One client flooding past its rate limit beside a well-behaved client, through `vigil gateway`
// (memory limiter, access log and telemetry on). Per target and round: CPU µs per proxied request
// (the good key alone, closed loop), CPU µs per refused request (the flooding key alone on 64
// connections, closed loop: nearly every answer a 429), and the well-behaved client's p50/p99 at a
// fixed rate without and with the flood beside it. Interleaved rounds.
//
//   npm run bench -- limits-flood
//   BENCH_BASELINE=/path/to/other/built/checkout npm run bench -- limits-flood   (before/after)
//
// Knobs: BENCH_ROUNDS (2), BENCH_DURATION_S (6), BENCH_RATE (200 req/s for the good client).
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { stringify } from 'yaml'

const SELF = fileURLToPath(import.meta.url)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 6)
const RATE = Number(process.env.BENCH_RATE ?? 200)
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100
const GOOD = 'good-key-0123456789'
const FLOOD = 'flood-key-0123456789'

if (process.argv[2] === '--upstream') {
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'))
  })
  server.keepAliveTimeout = 65_000
  server.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${server.address().port}\n`))
  process.once('SIGTERM', () => server.close(() => process.exit(0)))
} else await main()

/** CPU ms (user + system) of a process, from /proc. */
function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK
}

function child(argv, pattern, stream) {
  const p = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${argv.join(' ')} did not start:\n${out}`)), 30_000)
    p[stream].on('data', (c) => {
      if (out === null) return
      out += c.toString()
      const m = pattern(out)
      if (m !== null) {
        out = null
        clearTimeout(timer)
        resolve({ proc: p, url: m })
      }
    })
    p.once('exit', (code) => reject(new Error(`${argv.join(' ')} exited with ${code}`)))
  })
}

function startVigil(name, root, upstream) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-flood-'))
  const config = join(dir, 'vigil.yaml')
  writeFileSync(
    config,
    stringify({
      gateway: { host: '127.0.0.1', port: 0, accessLog: { destination: join(dir, 'access.log') } },
      admin: { host: '127.0.0.1', port: 0, token: 'bench' },
      telemetry: { otlp: { enabled: false } },
      store: { kind: 'sqlite', path: join(dir, 'vigil.db') },
      services: { api: { targets: [upstream] } },
      routes: [{ path: '/', service: 'api' }],
      limits: {
        enabled: true,
        dataDir: dir,
        tiers: {
          GOLD: { ratePerSec: 1_000_000, burst: 1_000_000, rank: 2 },
          TINY: { ratePerSec: 1, burst: 1 },
        },
        keys: [
          { id: 'good', key: GOOD, tier: 'GOLD' },
          { id: 'flood', key: FLOOD, tier: 'TINY' },
        ],
      },
    }),
  )
  return child(
    [join(root, 'bin', 'vigil.js'), 'gateway', '--config', config],
    (out) => /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"gateway listening"/.exec(out)?.[1] ?? null,
    'stderr',
  ).then((c) => ({ ...c, name, dir }))
}

function run(url, key, opts) {
  return autocannon({ url: `${url}/item`, headers: { 'x-api-key': key }, duration: DURATION_S, ...opts })
}

async function cpuPerRequest(t, key, connections) {
  const c0 = cpuMs(t.proc.pid)
  const r = await run(t.url, key, { connections })
  const c1 = cpuMs(t.proc.pid)
  const refused = r.statusCodeStats?.['429']?.count ?? 0
  return {
    usPerReq: ((c1 - c0) * 1000) / r.requests.total,
    rps: r.requests.average,
    total: r.requests.total,
    refused,
  }
}

async function goodLatency(t, withFlood) {
  const flood = withFlood ? run(t.url, FLOOD, { connections: 64 }) : null
  const good = await run(t.url, GOOD, { connections: 10, overallRate: RATE })
  const f = await flood
  return {
    p50: good.latency.p50,
    p99: good.latency.p99,
    rps: good.requests.average,
    errors: good.errors + good.timeouts + good.non2xx,
    floodRps: f?.requests.average ?? 0,
  }
}

async function main() {
  console.log(
    `limits-flood bench ${new Date().toISOString()} · Node ${process.version} · load average ${loadavg()[0].toFixed(2)} · ` +
      `${ROUNDS} rounds × ${DURATION_S} s; good client ${RATE} req/s on 10 connections, flood on 64 connections`,
  )
  const upstream = await child([SELF, '--upstream'], (out) => /PORT (\d+)/.exec(out)?.[1] ?? null, 'stdout')
  const up = `http://127.0.0.1:${upstream.url}`
  const targets = [await startVigil('this checkout', ROOT, up)]
  if (process.env.BENCH_BASELINE)
    targets.push(await startVigil(`baseline ${process.env.BENCH_BASELINE}`, process.env.BENCH_BASELINE, up))
  const res = new Map(targets.map((t) => [t.name, { proxied: [], refused: [], alone: [], flooded: [] }]))
  try {
    for (const t of targets) await run(t.url, GOOD, { connections: 16, duration: 3 }) // JIT warm-up
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of targets.map((_, i) => targets[(i + round) % targets.length])) {
        const r = res.get(t.name)
        r.proxied.push(await cpuPerRequest(t, GOOD, 16))
        r.refused.push(await cpuPerRequest(t, FLOOD, 64))
        r.alone.push(await goodLatency(t, false))
        r.flooded.push(await goodLatency(t, true))
        const [p, q, a, f] = [r.proxied.at(-1), r.refused.at(-1), r.alone.at(-1), r.flooded.at(-1)]
        console.log(
          `round ${round + 1} ${t.name}: proxied ${p.usPerReq.toFixed(1)} CPU µs/req (${p.rps.toFixed(0)} req/s) · ` +
            `refused ${q.usPerReq.toFixed(1)} CPU µs/req (${q.rps.toFixed(0)} req/s, ${q.refused} of ${q.total} were 429) · ` +
            `good client p50/p99 ${a.p50}/${a.p99} ms alone, ${f.p50}/${f.p99} ms beside the flood (${f.floodRps.toFixed(0)} req/s)` +
            (a.errors + f.errors > 0 ? ` · ${a.errors + f.errors} good-client errors` : ''),
        )
      }
    }
  } finally {
    for (const t of [...targets, upstream]) t.proc.kill('SIGTERM')
    for (const t of targets) rmSync(t.dir, { recursive: true, force: true })
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log(
    `\n| gateway | CPU µs per proxied request | CPU µs per refused request (429) | flood req/s answered | good client p50 / p99 ms alone | beside the flood |`,
  )
  console.log('|---|---|---|---|---|---|')
  for (const [name, r] of res) {
    console.log(
      `| ${name} | ${median(r.proxied.map((x) => x.usPerReq)).toFixed(1)} | ${median(r.refused.map((x) => x.usPerReq)).toFixed(1)} | ${median(r.refused.map((x) => x.rps)).toFixed(0)} | ${median(r.alone.map((x) => x.p50))} / ${median(r.alone.map((x) => x.p99))} | ${median(r.flooded.map((x) => x.p50))} / ${median(r.flooded.map((x) => x.p99))} |`,
    )
  }
  console.log(`\nload average after ${loadavg()[0].toFixed(2)}`)
}
