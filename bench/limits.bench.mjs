// Rate limiter benchmarks (issue 4). Imports compiled code from dist/ (npm run bench -- limits).
//  1. in-memory decisions/s on one core: MemoryLimitStore.take and full Limiter.admit, against
//     rate-limiter-flexible's RateLimiterMemory in the same run;
//  2. Redis-backed decisions/s and p99 latency: RedisLimitStore (one EVALSHA per decision) side by
//     side with rate-limiter-flexible's RateLimiterRedis on the same Redis, same keys, same load;
//  3. gateway requests/s with the Redis limiter vs the memory limiter vs no limiter (autocannon,
//     one `vigil gateway` process each, 127.0.0.1 only, bounded in time).
// Everything stops by itself; every figure has a baseline from the same run.
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible'
import { stringify } from 'yaml'
import { limitsSchema } from '../dist/config/limits-schema.js'
import { Limiter } from '../dist/limits/limiter.js'
import { MemoryLimitStore } from '../dist/limits/memory.js'
import { RedisLimitStore } from '../dist/limits/redis.js'
import { FileStateBackend } from '../dist/limits/state.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const KEYS = 1000
const ROUNDS = Number(process.env.LIMITS_BENCH_ROUNDS ?? 4)
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}
const fmt = (n) => Math.round(n).toLocaleString('en-US')
const rows = []
const row = (...cells) => {
  rows.push(cells)
  console.log(cells.join(' | '))
}

// ---- 1. in memory ---------------------------------------------------------------------------
function benchMemoryStore(seconds) {
  const store = new MemoryLimitStore()
  const buckets = Array.from({ length: KEYS }, (_, i) => [{ key: `k${i}`, intervalMs: 1, toleranceMs: 1e9 }])
  let n = 0
  let allowed = 0
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  let now = Date.now()
  while (performance.now() < end) {
    for (let i = 0; i < 100_000; i++) {
      if (store.take(buckets[i % KEYS], 1, now).allowed) allowed++
    }
    n += 100_000
    now = Date.now()
  }
  return { perSec: n / ((performance.now() - t0) / 1000), allowed }
}

function benchLimiterAdmit(seconds) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'))
  const limits = limitsSchema.parse({
    enabled: true,
    dataDir: dir,
    tiers: { STD: { ratePerSec: 1e9, burst: 1e9 } },
  })
  const l = new Limiter(
    { limits, services: ['api'], keyPrefix: 'b:' },
    { store: new MemoryLimitStore(), state: new FileStateBackend(join(dir, 's.json')) },
  )
  const reqs = Array.from({ length: KEYS }, (_, i) => ({
    routeId: 'r',
    service: 'api',
    priority: 'normal',
    cost: 1,
    headers: {},
    remoteAddress: `10.0.${i >> 8}.${i & 255}`,
  }))
  let n = 0
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  while (performance.now() < end) {
    const now = Date.now()
    for (let i = 0; i < 20_000; i++) l.admit(reqs[i % KEYS], now)
    n += 20_000
  }
  void l.close()
  return n / ((performance.now() - t0) / 1000)
}

async function benchRlfMemory(seconds) {
  const rl = new RateLimiterMemory({ points: 1e9, duration: 60 })
  let n = 0
  const t0 = performance.now()
  const end = t0 + seconds * 1000
  while (performance.now() < end) {
    const batch = []
    for (let i = 0; i < 10_000; i++) batch.push(rl.consume(`k${i % KEYS}`, 1))
    await Promise.all(batch)
    n += 10_000
  }
  return n / ((performance.now() - t0) / 1000)
}

// ---- 2. Redis -----------------------------------------------------------------------------------
function p(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

/** `total` decisions with `inFlight` outstanding at any time; per-decision latency recorded. */
async function closedLoop(decide, total, inFlight) {
  const lat = new Float64Array(total)
  let next = 0
  const t0 = performance.now()
  async function worker() {
    while (next < total) {
      const i = next++
      const s = performance.now()
      await decide(i)
      lat[i] = performance.now() - s
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  const secs = (performance.now() - t0) / 1000
  const sorted = Array.from(lat).sort((a, b) => a - b)
  return { perSec: total / secs, p50: p(sorted, 0.5), p99: p(sorted, 0.99) }
}

async function benchRedis(total, inFlight) {
  const prefix = `vigil-bench-${process.pid}:`
  const vigilClient = new Redis(REDIS_URL, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 5000,
  })
  const rlfClient = new Redis(REDIS_URL, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 5000,
  })
  const store = new RedisLimitStore({ client: vigilClient })
  await store.ready()
  await new Promise((r) => (rlfClient.status === 'ready' ? r() : rlfClient.once('ready', r)))
  // same job: 100 tokens/s per key, burst 100 (rlf: 100 points per 1 s window), 1000 keys
  const buckets = Array.from({ length: KEYS }, (_, i) => [
    { key: `${prefix}{v${i}}`, intervalMs: 10, toleranceMs: 1000 },
  ])
  const rlf = new RateLimiterRedis({
    storeClient: rlfClient,
    points: 100,
    duration: 1,
    keyPrefix: `${prefix}rlf`,
  })
  const vigil = (i) => store.take(buckets[i % KEYS], 1, Date.now())
  const flexible = (i) => rlf.consume(`k${i % KEYS}`, 1).catch(() => {})
  const results = { vigil: [], rlf: [] }
  // alternate rounds so drift in machine load hits both; report every round and the median
  for (let round = 0; round < ROUNDS; round++) {
    results.vigil.push(await closedLoop(vigil, total, inFlight))
    results.rlf.push(await closedLoop(flexible, total, inFlight))
  }
  const keys = await vigilClient.keys(`${prefix}*`)
  for (let i = 0; i < keys.length; i += 500) await vigilClient.del(...keys.slice(i, i + 500))
  vigilClient.disconnect()
  rlfClient.disconnect()
  return results
}

// ---- 3. gateway -----------------------------------------------------------------------------------
async function upstream() {
  const s = createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-length': '2' })
    res.end('ok')
  })
  await new Promise((r) => s.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${s.address().port}`,
    close: () => new Promise((r) => (s.closeAllConnections(), s.close(r))),
  }
}

function startGateway(up, limits) {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-gw-'))
  const file = join(dir, 'vigil.yaml')
  writeFileSync(
    file,
    stringify({
      gateway: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      // several gateways on this host: each needs an OTLP port of its own
      telemetry: { otlp: { host: '127.0.0.1', port: 0 } },
      services: { api: { targets: [up] } },
      routes: [{ path: '/', service: 'api' }],
      limits: { dataDir: dir, ...limits },
    }),
  )
  const child = spawn(process.execPath, [join(ROOT, 'bin/vigil.js'), 'gateway', '--config', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let log = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${log}`)), 30_000)
    child.stderr.on('data', (d) => {
      log += d
      const m = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"gateway listening"/.exec(log)
      if (m) {
        clearTimeout(timer)
        resolve({ url: m[1], stop: () => new Promise((r) => (child.once('exit', r), child.kill('SIGTERM'))) })
      }
    })
  })
}

async function cannon(url, seconds) {
  const r = await autocannon({ url: `${url}/x`, connections: 32, duration: seconds })
  return { rps: r.requests.average, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors }
}

async function benchGateway(seconds) {
  const up = await upstream()
  const generous = { tiers: { STD: { ratePerSec: 1e7, burst: 1e7 } } }
  const variants = [
    ['no limiter', { enabled: false }],
    ['memory limiter', { enabled: true, store: 'memory', ...generous }],
    [
      'redis limiter',
      {
        enabled: true,
        store: 'redis',
        redis: { url: REDIS_URL, keyPrefix: `vigil-bench-gw-${process.pid}:`, timeoutMs: 1000 },
        ...generous,
      },
    ],
  ]
  // All three gateways run side by side; only one is loaded at a time, in interleaved rounds.
  const gws = []
  for (const [name, limits] of variants) gws.push([name, await startGateway(up.url, limits)])
  for (const [, gw] of gws) await cannon(gw.url, 1) // warm-up
  const out = Object.fromEntries(variants.map(([name]) => [name, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, gw] of gws) out[name].push(await cannon(gw.url, seconds))
  }
  for (const [, gw] of gws) await gw.stop()
  await up.close()
  return out
}

// ---- run ------------------------------------------------------------------------------------------
console.log(`node ${process.version}, ${new Date().toISOString()}`)
console.log('\n# 1. in-memory decisions per second (one core, 1000 keys)')
row('what', 'decisions/s')
row('MemoryLimitStore.take (GCRA, sync)', fmt(benchMemoryStore(3).perSec))
row('Limiter.admit (identity, tiers, headers, stats, metrics)', fmt(benchLimiterAdmit(3)))
row('baseline: rate-limiter-flexible RateLimiterMemory.consume', fmt(await benchRlfMemory(3)))

const total = Number(process.env.LIMITS_BENCH_REDIS_OPS ?? 20_000)
for (const inFlight of [1, 64]) {
  console.log(`\n# 2. Redis-backed decisions, ${fmt(total)} per round, ${inFlight} in flight (${REDIS_URL})`)
  const r = await benchRedis(total, inFlight)
  row('limiter', 'decisions/s per round', 'p99 ms per round', 'median decisions/s', 'median p99 ms')
  for (const [name, xs] of [
    ['vigil RedisLimitStore (EVALSHA)', r.vigil],
    ['rate-limiter-flexible RateLimiterRedis', r.rlf],
  ]) {
    row(
      name,
      xs.map((x) => fmt(x.perSec)).join(' / '),
      xs.map((x) => x.p99.toFixed(1)).join(' / '),
      fmt(median(xs.map((x) => x.perSec))),
      median(xs.map((x) => x.p99)).toFixed(1),
    )
  }
}

if (process.env.LIMITS_BENCH_SKIP_GATEWAY !== '1') {
  const secs = Number(process.env.LIMITS_BENCH_GATEWAY_SECONDS ?? 4)
  console.log(
    `\n# 3. gateway requests/s (autocannon, 32 connections, ${ROUNDS} interleaved rounds of ${secs} s)`,
  )
  const g = await benchGateway(secs)
  const mem = median(g['memory limiter'].map((x) => x.rps))
  row('gateway', 'req/s per round', 'median req/s', 'median p99 ms', 'non-2xx', 'errors', 'median vs memory')
  for (const [name, xs] of Object.entries(g)) {
    const m = median(xs.map((x) => x.rps))
    row(
      name,
      xs.map((x) => fmt(x.rps)).join(' / '),
      fmt(m),
      median(xs.map((x) => x.p99)),
      xs.reduce((a, x) => a + x.non2xx, 0),
      xs.reduce((a, x) => a + x.errors, 0),
      `${((100 * m) / mem).toFixed(0)}%`,
    )
  }
}
process.exit(0)
