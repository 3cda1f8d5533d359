// Telemetry capture benchmarks (issue 5):
//  1. hot path: RollupRecorder.record per event vs a baseline `record` that only increments a
//     counter (same call shape, same event object reused as the gateway reuses its Exchange);
//  2. window close: rotating, encoding and publishing one window of 10,000 series;
//  3. gateway req/s and CPU per request with telemetry on vs off (the gateway bench's harness).
// Usage: npm run bench -- telemetry   (QUICK=1 shortens every phase)
import { spawnSync } from 'node:child_process'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { RollupRecorder } from '../dist/telemetry/rollup-recorder.js'

const QUICK = process.env.QUICK === '1'
const PHASE_MS = QUICK ? 500 : 1500
const ROUNDS = QUICK ? 2 : 5

const nullBus = { publish: async () => {} }

function latencies(n) {
  // log-normal around 20 ms, so the sketch touches a realistic spread of bins
  const out = new Float64Array(n)
  let seed = 1
  const rnd = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646
  for (let i = 0; i < n; i++) {
    const z = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd())
    out[i] = Math.exp(3 + 0.8 * z)
  }
  return out
}
const LAT = latencies(4096)

function event() {
  return {
    status: 200,
    outcome: 'ok',
    latencyMs: 10,
    bytesIn: 120,
    bytesOut: 2048,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    parentSpanId: null,
    requestId: 'r',
    method: 'GET',
    path: '/orders/1',
    target: 'http://127.0.0.1:9001',
    attempts: 1,
    startTimeMs: Date.now(),
  }
}

/**
 * events/s of `handles[i % n].record(ev)` for PHASE_MS. Every 100,000 events the loop yields to
 * the event loop, as a gateway does between requests, so the recorder's span flushes run (else
 * kept spans pile up and the figure measures their GC).
 */
async function run(handles) {
  const ev = event()
  const n = handles.length
  let i = 0
  const t0 = performance.now()
  let t = t0
  while (t - t0 < PHASE_MS) {
    for (let k = 0; k < 100_000; k++, i++) {
      ev.latencyMs = LAT[i & 4095]
      ev.status = (i & 1023) === 0 ? 503 : 200
      handles[i % n].record(ev)
    }
    await new Promise((r) => setImmediate(r))
    t = performance.now()
  }
  return (i / (t - t0)) * 1000
}

class Baseline {
  n = 0
  bytes = 0
  record(ev) {
    this.n++
    this.bytes += ev.bytesOut
  }
}

const fmt = (x) =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function hotPath() {
  const variants = {
    'baseline: counter increment': () => Array.from({ length: 100 }, () => new Baseline()),
    'RollupRecorder, 100 series, spans sampled 1%': () => {
      const r = new RollupRecorder({
        bus: nullBus,
        windowMs: 3_600_000,
        spans: { sampleRate: 0.01 },
      })
      return Array.from({ length: 100 }, (_, i) =>
        r.series({ service: `s${i % 10}`, route: `r${i}`, env: 'prod' }),
      )
    },
    'RollupRecorder, 100 series, spans off (rate 0, errors kept)': () => {
      const r = new RollupRecorder({
        bus: nullBus,
        windowMs: 3_600_000,
        spans: { sampleRate: 0 },
      })
      return Array.from({ length: 100 }, (_, i) =>
        r.series({ service: `s${i % 10}`, route: `r${i}`, env: 'prod' }),
      )
    },
    'RollupRecorder, 1 series': () => {
      const r = new RollupRecorder({
        bus: nullBus,
        windowMs: 3_600_000,
        spans: { sampleRate: 0.01 },
      })
      return [r.series({ service: 's', route: 'r', env: 'prod' })]
    },
  }
  // one compiled copy of `run` per variant: a shared call site `handles[i % n].record(ev)` would
  // see every variant's class, go megamorphic and measure that instead of the recorder
  const runs = Object.fromEntries(
    Object.keys(variants).map((k) => [
      k,
      new Function('LAT', 'PHASE_MS', 'event', `return ${run.toString()}`)(LAT, PHASE_MS, event),
    ]),
  )
  const results = Object.fromEntries(Object.keys(variants).map((k) => [k, []]))
  const handles = Object.fromEntries(Object.entries(variants).map(([k, make]) => [k, make()]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const k of Object.keys(variants)) results[k].push(await runs[k](handles[k]))
  }
  console.log(
    '\n1. hot path: events/s on one core (median and range of %d rounds of %d ms)',
    ROUNDS,
    PHASE_MS,
  )
  console.log('| variant | events/s (median) | range | ns/event |')
  console.log('|---|---|---|---|')
  for (const [k, xs] of Object.entries(results)) {
    const m = median(xs)
    console.log(
      `| ${k} | ${fmt(m)} | ${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))} | ${(1e9 / m).toFixed(1)} |`,
    )
  }
}

async function windowClose() {
  console.log(
    '\n2. closing one window of 10,000 series (10 requests each): rotate + encode + publish to a null bus',
  )
  console.log(
    '| round | close() synchronous part, ms | until all published, ms | longest event-loop block, ms | bytes per rollup |',
  )
  console.log('|---|---|---|---|---|')
  for (let round = 0; round < 3; round++) {
    let bytes = 0
    let n = 0
    const bus = { publish: async (_s, d) => void ((bytes += d.length), n++) }
    const r = new RollupRecorder({ bus, windowMs: 3_600_000, spans: { sampleRate: 0 }, maxSeries: 20_000 })
    const ev = event()
    for (let s = 0; s < 10_000; s++) {
      const h = r.series({ service: `svc${s % 50}`, route: `route-${s}`, env: 'prod' })
      for (let k = 0; k < 10; k++) {
        ev.latencyMs = LAT[(s * 10 + k) & 4095]
        h.record(ev)
      }
    }
    const h = monitorEventLoopDelay({ resolution: 1 })
    h.enable()
    const t0 = performance.now()
    const p = r.close()
    const sync = performance.now() - t0
    await p
    const total = performance.now() - t0
    h.disable()
    const block = Math.max(sync, h.max / 1e6)
    console.log(
      `| ${round + 1} | ${sync.toFixed(0)} | ${total.toFixed(0)} | ${block.toFixed(0)} | ${(bytes / n).toFixed(0)} |`,
    )
  }
}

/**
 * Gateway req/s and CPU per request with telemetry on vs off, in one run: the gateway bench's
 * harness (separate processes, proxy pinned to its own core, JIT warm-up, interleaved rounds,
 * access log on in both) restricted to the two data-plane rows, with more rounds so the
 * round-to-round spread, the noise, is seen next to the difference.
 */
function gatewayOnOff() {
  console.log('\n3. gateway with telemetry on vs off: bench/gateway.bench.mjs, Vigil data-plane rows only')
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('gateway.bench.mjs', import.meta.url))], {
    stdio: 'inherit',
    env: {
      ...process.env,
      BENCH_TARGETS: 'vigil,vigil-no-telemetry',
      BENCH_ROUNDS: process.env.ROUNDS ?? (QUICK ? '2' : '8'),
      BENCH_PREWARM_S: QUICK ? '2' : (process.env.BENCH_PREWARM_S ?? '30'),
      BENCH_DURATION_S: QUICK ? '2' : (process.env.BENCH_DURATION_S ?? '8'),
    },
  })
  if (r.status !== 0) throw new Error(`gateway bench exited with ${r.status}`)
}

console.log(`node ${process.version}, ${new Date().toISOString()}`)
// ONLY=gateway (or hot, window) runs one part; SKIP_GATEWAY=1 skips the HTTP part
const only = process.env.ONLY
if (only === undefined || only === 'hot') await hotPath()
if (only === undefined || only === 'window') await windowClose()
if ((only === undefined || only === 'gateway') && process.env.SKIP_GATEWAY !== '1') gatewayOnOff()
