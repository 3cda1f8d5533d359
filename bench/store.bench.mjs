// Store benchmark: merging and storing one window of 10,000 series (3 gateways each) in SQLite
// and PostgreSQL, against a same-run baseline of merging alone; spans/s into each store.
// Run: npm run bench -- store   (PostgreSQL at $VIGIL_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/test)
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PostgresStore, SqliteStore } from '../dist/store/index.js'
import { deriveWindow } from '../dist/store/merge.js'
import { createLatencySketch, encodeSketch } from '../dist/telemetry/sketch.js'

const SERIES = Number(process.env.STORE_BENCH_SERIES ?? 10_000)
const GATEWAYS = 3
const SPANS = Number(process.env.STORE_BENCH_SPANS ?? 100_000)
const PG_URL = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const W = 10_000
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)

function windowOf(start) {
  const out = []
  for (let i = 0; i < SERIES; i++)
    for (let g = 0; g < GATEWAYS; g++) {
      const s = createLatencySketch()
      for (let k = 0; k < 20; k++) s.accept(5 + ((i * 7 + k * 13 + g) % 400))
      out.push({
        gatewayId: `gw-${g}`,
        series: { service: `svc${i % 50}`, route: `/r/${i}`, env: 'prod' },
        windowStartMs: start,
        windowMs: W,
        count: 20,
        statusClass: [0, 19, 0, 0, 1],
        limited: 0,
        timeouts: 0,
        connectErrors: 0,
        bytesIn: 2000,
        bytesOut: 20000,
        latencySketch: encodeSketch(s),
      })
    }
  return out
}

function spans(n, tag) {
  return Array.from({ length: n }, (_, i) => ({
    traceId: `${tag}${String(i >> 2).padStart(28, '0')}`,
    spanId: `${String(i).padStart(16, '0')}`,
    parentSpanId: i % 4 === 0 ? null : `${String(i - (i % 4)).padStart(16, '0')}`,
    service: `svc${i % 20}`,
    env: 'prod',
    route: `/r/${i % 100}`,
    name: 'GET /r',
    kind: 2,
    startTimeMs: T0 + i,
    durationMs: 12.5,
    statusCode: 0,
    httpStatus: 200,
    requestId: `req-${tag}-${i}`,
    source: 'gateway',
    attributes: { 'http.method': 'GET', attempts: 1 },
  }))
}

async function time(fn) {
  const t = performance.now()
  await fn()
  return performance.now() - t
}

const rows = []
const w1 = windowOf(T0)
const w2 = windowOf(T0 + W)
const baseline = await time(() => deriveWindow(w1, { raw: [], routeLevel: [], serviceLevel: [] }))
rows.push(['baseline: merge only (deriveWindow, no store)', baseline])

const dir = mkdtempSync(join(tmpdir(), 'vigil-store-bench-'))
const sqlite = await SqliteStore.open({ path: join(dir, 'bench.db') })
const pg = await PostgresStore.open({ url: PG_URL, schema: `vigil_bench_${randomBytes(4).toString('hex')}` })
const stores = [
  ['SqliteStore', sqlite],
  ['PostgresStore', pg],
]
const spanRows = []
try {
  for (const [name, store] of stores) {
    rows.push([`${name}.writeWindow, first window`, await time(() => store.writeWindow(w1))])
    rows.push([`${name}.writeWindow, next window`, await time(() => store.writeWindow(w2))])
    rows.push([`${name}.writeWindow, same window redelivered`, await time(() => store.writeWindow(w2))])
    const all = spans(SPANS, name === 'SqliteStore' ? 'aaaa' : 'bbbb')
    const ms = await time(async () => {
      for (let i = 0; i < all.length; i += 5000) await store.writeSpans(all.slice(i, i + 5000))
    })
    spanRows.push([name, SPANS, ms, (SPANS / ms) * 1000])
  }
  const base = spans(SPANS, 'cccc')
  const bms = await time(() => {
    for (const s of base) JSON.stringify(s)
  })
  spanRows.push(['baseline: JSON.stringify per span', SPANS, bms, (SPANS / bms) * 1000])
} finally {
  await sqlite.close()
  await pg.dropSchema()
  await pg.close()
  rmSync(dir, { recursive: true, force: true })
}

console.log(
  `one window: ${SERIES} series × ${GATEWAYS} gateways = ${SERIES * GATEWAYS} rollups, window ${W} ms`,
)
console.log('| what | ms |\n|---|---|')
for (const [what, ms] of rows) console.log(`| ${what} | ${ms.toFixed(0)} |`)
console.log('\n| spans into | spans | ms | spans/s |\n|---|---|---|---|')
for (const [what, n, ms, rate] of spanRows)
  console.log(`| ${what} | ${n} | ${ms.toFixed(0)} | ${Math.round(rate)} |`)
