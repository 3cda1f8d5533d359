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
  // alternate, two rounds each, so drift in machine load hits both
  for (let round = 0; round < 2; round++) {
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
  const out = {}
  for (const [name, limits] of variants) {
    const gw = await startGateway(up.url, limits)
    await cannon(gw.url, 1) // warm-up
    out[name] = await cannon(gw.url, seconds)
    await gw.stop()
  }
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
  console.log(`\n# 2. Redis-backed decisions, ${fmt(total)} per run, ${inFlight} in flight (${REDIS_URL})`)
  const r = await benchRedis(total, inFlight)
  row('limiter', 'round', 'decisions/s', 'p50 ms', 'p99 ms')
  r.vigil.forEach((x, i) =>
    row('vigil RedisLimitStore (EVALSHA)', i + 1, fmt(x.perSec), x.p50.toFixed(2), x.p99.toFixed(2)),
  )
  r.rlf.forEach((x, i) =>
    row('rate-limiter-flexible RateLimiterRedis', i + 1, fmt(x.perSec), x.p50.toFixed(2), x.p99.toFixed(2)),
  )
}

if (process.env.LIMITS_BENCH_SKIP_GATEWAY !== '1') {
  const secs = Number(process.env.LIMITS_BENCH_GATEWAY_SECONDS ?? 8)
  console.log(`\n# 3. gateway requests/s (autocannon, 32 connections, ${secs} s each)`)
  const g = await benchGateway(secs)
  row('gateway', 'req/s', 'p99 ms', 'non-2xx', 'errors', 'vs memory')
  for (const [name, x] of Object.entries(g)) {
    row(
      name,
      fmt(x.rps),
      x.p99,
      x.non2xx,
      x.errors,
      `${((100 * x.rps) / g['memory limiter'].rps).toFixed(0)}%`,
    )
  }
}
process.exit(0)
