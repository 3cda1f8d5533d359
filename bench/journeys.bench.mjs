// Request journeys benchmarks, each against a baseline in the same run:
//  1. Monte Carlo: simulated journeys/s of a five-service journey (auth, then inventory ∥ pricing
//     ∥ reviews behind the aggregator; learned from synthetic traces) on one thread, against a
//     one-service journey; and one whole impact estimate (100,000 journeys in 20 batches, 30 min).
//  2. Queries with JOURNEYS_BENCH_SPANS (default 1,000,000) stored spans in SQLite and in
//     PostgreSQL: trace by id, by request id, trace search, and the service graph of 5 minutes and
//     of an hour read from the store; against the same queries with 10,000 stored spans.
//     PostgreSQL's statistics are refreshed after the bulk load (ANALYZE, as autovacuum would).
//  3. Span ingest into the graph (LiveJourneys: buffer per trace, decide, analyse into the graph and
//     the route statistics) in spans/s, against the OTLP receiver's decode + validate + map of a
//     512-span protobuf request (its per-span work before the bus) in the same run.
// Usage: npm run bench -- journeys   (pin to one core: taskset -c 1 node bench/journeys.bench.mjs;
// QUICK=1 shortens; PostgreSQL at $VIGIL_TEST_PG_URL or postgres://postgres@127.0.0.1:5432/test,
// skipped with a note when unreachable)
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LiveJourneys } from '../dist/control/journeys.js'
import {
  analyzeTrace,
  buildTree,
  createRng,
  JourneySimulator,
  learnModel,
  newRouteWindow,
  readTrace,
  simulateImpact,
  simulationBuffers,
} from '../dist/journeys/index.js'
import { fiveServiceTopology, NO_RETRY_POLICY, syntheticTrace } from '../dist/journeys/synthetic.js'
import { PostgresStore, SqliteStore } from '../dist/store/index.js'
import { encodeSketch } from '../dist/telemetry/sketch.js'
import { decodeOtlpProtobuf } from '../dist/telemetry/otlp-ingest.js'
import { newSketch } from '../dist/journeys/graph.js'
import { makeRequest } from './otlp-request.mjs'

const QUICK = process.env.QUICK === '1'
const ROUNDS = QUICK ? 3 : 7
const SPANS = Number(process.env.JOURNEYS_BENCH_SPANS ?? (QUICK ? 100_000 : 1_000_000))
const PG_URL = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)
const W = 10_000

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (x) =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0)
const range = (xs) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`

console.log(`node ${process.version}, ${new Date().toISOString()}`)

// ---- 1. Monte Carlo ----
function modelOf(entry, n, seed) {
  const rng = createRng(seed)
  const rw = newRouteWindow('shop', 0, 60_000)
  for (let i = 0; i < n; i++) {
    const t = syntheticTrace(entry, { route: 'shop', gatewayEnv: 'edge' }, rng)
    analyzeTrace(
      buildTree(t.spans, (s) => s.service === entry.service),
      rw,
      { envOf: () => 'onprem' },
    )
  }
  return learnModel(rw, NO_RETRY_POLICY)
}
const topo = fiveServiceTopology()
const five = modelOf(topo.shop, 4_000, 1)
const one = modelOf({ ...topo.pricing, service: 'shop' }, 4_000, 2)
const N = 100_000
const buf = simulationBuffers(N)
const rates = { five: [], one: [] }
for (let r = 0; r < ROUNDS; r++)
  for (const [name, model] of r % 2 === 0
    ? [
        ['five', five],
        ['one', one],
      ]
    : [
        ['one', one],
        ['five', five],
      ]) {
    const sim = new JourneySimulator(model)
    const rng = createRng(r + 1)
    sim.drawParameters(rng)
    const t = performance.now()
    sim.run(N, rng, buf)
    rates[name].push((N / (performance.now() - t)) * 1000)
  }
const impactMs = []
for (let r = 0; r < Math.max(3, ROUNDS - 2); r++) {
  const t = performance.now()
  simulateImpact(five, [{ kind: 'errorRatio', service: 'pricing', value: 0.2 }], {
    horizonMs: 1_800_000,
    traffic: { stepMs: W, rate: [50], lower: [40], upper: [60] },
    clients: Array.from({ length: 500 }, () => 0.1),
    slo: { availability: 0.999, latencyMs: 1000 },
    journeys: 100_000,
    seed: r + 1,
  })
  impactMs.push(performance.now() - t)
}
console.log(
  `\n1. Monte Carlo, ${N.toLocaleString('en-US')} journeys per run, ${ROUNDS} rounds (median, range); sites: five-service model ${five.sites.length}, baseline ${one.sites.length}`,
)
console.log('| journey | journeys/s | range |\n|---|---|---|')
console.log(`| baseline: one service | ${fmt(median(rates.one))} | ${range(rates.one)} |`)
console.log(
  `| five services (auth; inventory ∥ pricing ∥ reviews) | ${fmt(median(rates.five))} | ${range(rates.five)} |`,
)
console.log(
  `| whole impact estimate: baseline + one what-if, 2 × 100,000 journeys, 500 clients, 30 min | ${median(impactMs).toFixed(0)} ms | ${Math.min(...impactMs).toFixed(0)}–${Math.max(...impactMs).toFixed(0)} ms |`,
)

// ---- 2. Queries over stored spans ----
const SERVICES = [
  ['vigil', 'edge'],
  ['shop', 'onprem'],
  ['auth', 'onprem'],
  ['inventory', 'onprem'],
  ['pricing', 'aws'],
]
/** Five spans per trace (gateway → shop → auth, inventory, pricing), spread over an hour. */
function spansOf(n, tag) {
  const traces = Math.floor(n / 5)
  const step = 3_600_000 / traces
  const out = []
  for (let t = 0; t < traces; t++) {
    const traceId = `${tag}${t.toString(16).padStart(28, '0')}`
    const start = T0 + Math.floor(t * step)
    const failed = t % 50 === 0
    for (let k = 0; k < 5; k++) {
      const [service, env] = SERVICES[k]
      out.push({
        traceId,
        spanId: `${tag}${(t * 5 + k).toString(16).padStart(12, '0')}`,
        parentSpanId:
          k === 0
            ? null
            : k === 1
              ? `${tag}${(t * 5).toString(16).padStart(12, '0')}`
              : `${tag}${(t * 5 + 1).toString(16).padStart(12, '0')}`,
        service,
        env,
        route: k === 0 ? 'shop' : '',
        name: k === 0 ? 'GET /shop' : 'GET /',
        kind: 2,
        startTimeMs: start + k,
        durationMs: 40 - 5 * k + (t % 37),
        statusCode: failed && k >= 1 && k !== 2 && k !== 3 ? 2 : 0,
        httpStatus: failed && k >= 1 && k !== 2 && k !== 3 ? 500 : 200,
        requestId: k === 0 ? `req-${tag}-${t}` : null,
        source: k === 0 ? 'gateway' : 'otlp',
        attributes: {},
      })
    }
  }
  return out
}
/** An hour of graph windows: what the live graph writes for these spans. */
function graphRowsOf() {
  const rows = []
  for (let w = T0; w < T0 + 3_600_000; w += W)
    for (const [from, to] of [
      ['', 'vigil|edge'],
      ['vigil|edge', 'shop|onprem'],
      ['shop|onprem', 'auth|onprem'],
      ['shop|onprem', 'inventory|onprem'],
      ['shop|onprem', 'pricing|aws'],
    ]) {
      const s = newSketch()
      for (let i = 0; i < 50; i++) s.accept(10 + ((i * 7) % 40))
      rows.push({
        windowStartMs: w,
        windowMs: W,
        from,
        to,
        calls: 55,
        errors: 1,
        latencySketch: encodeSketch(s),
      })
    }
  return rows
}

async function fill(store, n, tag) {
  const all = spansOf(n, tag)
  const t = performance.now()
  for (let i = 0; i < all.length; i += 5_000) await store.writeSpans(all.slice(i, i + 5_000))
  await store.writeGraphRows(graphRowsOf())
  const ms = performance.now() - t
  // what autovacuum does for a table that grew this much: the planner's statistics
  if (store.kind === 'postgres') {
    const c = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${store.schema}` })
    await c.connect()
    await c.query('ANALYZE spans; ANALYZE graph_edges')
    await c.end()
  }
  return { ms, traces: Math.floor(n / 5) }
}

async function queries(store, tag, traces) {
  const reader = new LiveJourneys({
    store,
    windowMs: W,
    gatewayEnv: 'edge',
    sampleRate: 0.1,
    routes: [],
    now: () => T0 + 3_600_000,
  })
  const pick = (r) => Math.floor(((((r + 1) * 7919) % 1000) / 1000) * traces)
  const q = {
    'trace by id': (r) => store.spansByTrace(`${tag}${pick(r).toString(16).padStart(28, '0')}`),
    'trace by request id': (r) => store.spansByRequestId(`req-${tag}-${pick(r)}`),
    'search: pricing errors in 10 min, 50 newest': (r) =>
      store.searchTraces(
        {
          fromMs: T0 + r * 60_000,
          toMs: T0 + r * 60_000 + 600_000,
          service: 'pricing',
          status: 'error',
          limit: 50,
        },
        readTrace,
      ),
    'search: shop spans 60–70 ms in 10 min, 50 newest': (r) =>
      store.searchTraces(
        {
          fromMs: T0 + r * 60_000,
          toMs: T0 + r * 60_000 + 600_000,
          service: 'shop',
          minDurationMs: 60,
          maxDurationMs: 70,
          limit: 50,
        },
        readTrace,
      ),
    'graph of 5 minutes from the store (GET /api/graph, default window)': (r) =>
      reader.graph(T0 + r * 300_000, T0 + (r + 1) * 300_000),
    'graph of the hour from the store (GET /api/graph?window=1h)': () => reader.graph(T0, T0 + 3_600_000),
  }
  const out = {}
  for (const [name, fn] of Object.entries(q)) {
    await fn(0) // warm
    const ms = []
    for (let r = 0; r < ROUNDS; r++) {
      const t = performance.now()
      const got = await fn(r + 1)
      ms.push(performance.now() - t)
      if (Array.isArray(got) ? got.length === 0 : got.edges.length === 0)
        throw new Error(`${name}: empty answer`)
    }
    out[name] = ms
  }
  return out
}

const dir = mkdtempSync(join(tmpdir(), 'vigil-journeys-bench-'))
const table = []
try {
  const stores = [
    ['SQLite', () => SqliteStore.open({ path: join(dir, `${randomBytes(3).toString('hex')}.db`) })],
  ]
  try {
    const probe = await PostgresStore.open({
      url: PG_URL,
      schema: `vigil_jb_${randomBytes(4).toString('hex')}`,
    })
    await probe.dropSchema()
    await probe.close()
    stores.push([
      'PostgreSQL',
      () => PostgresStore.open({ url: PG_URL, schema: `vigil_jb_${randomBytes(4).toString('hex')}` }),
    ])
  } catch (err) {
    console.log(`\nPostgreSQL at ${PG_URL} unreachable (${err.message}): its rows are skipped`)
  }
  for (const [name, open] of stores)
    for (const n of [10_000, SPANS]) {
      const store = await open()
      try {
        const tag = randomBytes(2).toString('hex')
        const filled = await fill(store, n, tag)
        const got = await queries(store, tag, filled.traces)
        table.push({ name, n, fillMs: filled.ms, got })
      } finally {
        if (store.dropSchema !== undefined) await store.dropSchema()
        await store.close()
      }
    }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
console.log(`\n2. queries, ${ROUNDS} rounds (median ms, max); spans written in 5,000-span batches`)
console.log('| store | stored spans | query | median ms | max ms |\n|---|---|---|---|---|')
for (const row of table) {
  for (const [q, ms] of Object.entries(row.got))
    console.log(
      `| ${row.name} | ${row.n.toLocaleString('en-US')} | ${q} | ${median(ms).toFixed(1)} | ${Math.max(...ms).toFixed(1)} |`,
    )
  console.log(
    `| ${row.name} | ${row.n.toLocaleString('en-US')} | (writing them: ${Math.round((row.n / row.fillMs) * 1000).toLocaleString('en-US')} spans/s) | | |`,
  )
}

// ---- 3. span ingest into the graph vs the OTLP receiver's decode ----
const TRACES = QUICK ? 5_000 : 20_000
const ingestRng = createRng(9)
const traces = Array.from(
  { length: TRACES },
  (_, i) =>
    syntheticTrace(topo.shop, { route: 'shop', gatewayEnv: 'edge', startMs: T0 + i * 2 }, ingestRng).spans,
)
const spanCount = traces.reduce((a, t) => a + t.length, 0)
const req = makeRequest(512).protobuf
const ingest = { graph: [], decode: [] }
for (let r = 0; r < ROUNDS; r++) {
  const store = await SqliteStore.open({ path: ':memory:' })
  const live = new LiveJourneys({
    store,
    windowMs: W,
    gatewayEnv: 'edge',
    sampleRate: 0.1,
    routes: [],
    traceWaitMs: 15_000,
    maxBufferedSpans: 1_000_000,
    now: () => T0,
  })
  let t = performance.now()
  for (let i = 0; i < TRACES; i += 100) {
    const batch = traces.slice(i, i + 100).flat()
    live.add(batch, T0 + i * 2)
  }
  live.take(T0 + TRACES * 2 + 20_000)
  ingest.graph.push((spanCount / (performance.now() - t)) * 1000)
  await store.close()
  t = performance.now()
  let decoded = 0
  while (decoded < spanCount) decoded += decodeOtlpProtobuf(req).spans.length
  ingest.decode.push((decoded / (performance.now() - t)) * 1000)
}
console.log(
  `\n3. ingest, ${spanCount.toLocaleString('en-US')} spans (${TRACES.toLocaleString('en-US')} traces) per round, ${ROUNDS} rounds (median, range)`,
)
console.log('| stage | spans/s | range |\n|---|---|---|')
console.log(
  `| baseline: OTLP receiver's decode + validate + map (512-span protobuf requests) | ${fmt(median(ingest.decode))} | ${range(ingest.decode)} |`,
)
console.log(
  `| span ingest into the graph: buffer, decide, analyse (LiveJourneys.add + take) | ${fmt(median(ingest.graph))} | ${range(ingest.graph)} |`,
)
