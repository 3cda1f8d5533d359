// Detection warm-up from the stored windows (src/control/warm-up.ts): WARM_BENCH_SERIES route
// series (10 per service, so each service and the global roll-up are series too) with
// WARM_BENCH_WINDOWS stored 10 s windows in a SQLite store; a fresh LiveAnomalies replays them.
// Reports the time to read the store and to replay, windows replayed per second, and the longest
// event-loop wait meanwhile (a timer every 5 ms: the live windows the leader handles alongside).
// With WARM_BENCH_SAVED=K, a state file learned the first K windows: the start restores it (as
// `detect.statePath` does) and the warm-up learns only the windows stored after it.
// Run: npm run bench -- warm-up
import { serialize } from 'node:v8'
import { LiveAnomalies } from '../dist/control/anomalies.js'
import { readStateFile } from '../dist/control/state-file.js'
import { warmUpFromStore } from '../dist/control/warm-up.js'
import { SqliteStore } from '../dist/store/index.js'
import { emptySketch, encodeSketch } from '../dist/store/sketch.js'

const SERIES = Number(process.env.WARM_BENCH_SERIES ?? 200)
const WINDOWS = Number(process.env.WARM_BENCH_WINDOWS ?? 130)
const SAVED = process.env.WARM_BENCH_SAVED === undefined ? null : Number(process.env.WARM_BENCH_SAVED)
const W = 10_000
const T0 = Date.UTC(2026, 0, 1)
const store = await SqliteStore.open({ path: ':memory:' })
let seed = 1
const rnd = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32
for (let w = 0; w < WINDOWS; w++) {
  const rollups = []
  for (let s = 0; s < SERIES; s++) {
    const sk = emptySketch()
    for (let i = 0; i < 20; i++) sk.accept(40 * (0.9 + rnd() * 0.2))
    const count = 200 + Math.round(rnd() * 20)
    rollups.push({
      gatewayId: 'gw1',
      series: { service: `svc${Math.floor(s / 10)}`, route: `/r${s % 10}`, env: 'prod' },
      windowStartMs: T0 + w * W,
      windowMs: W,
      count,
      statusClass: [0, count - 1, 0, 0, 1],
      limited: 0,
      refused: 0,
      refused5xx: 0,
      timeouts: 0,
      connectErrors: 0,
      bytesIn: 0,
      bytesOut: 0,
      latencySketch: encodeSketch(sk),
    })
  }
  await store.writeWindow(rollups)
}
const startedAtMs = T0 + WINDOWS * W + 1_000
const live = new LiveAnomalies({ stepMs: W, startedAtMs, maxSeries: SERIES * 2 })
let restored = null
if (SAVED !== null) {
  const before = new LiveAnomalies({ stepMs: W, startedAtMs: 0, maxSeries: SERIES * 2 })
  await warmUpFromStore(before, store, { windowMs: W, untilMs: T0 + SAVED * W, windows: SAVED })
  const file = serialize(before.snapshot())
  const t = performance.now()
  const n = live.restore(readStateFile(file))
  restored = { series: n, bytes: file.length, ms: Math.round(performance.now() - t) }
}
let last = performance.now()
let longest = 0
const timer = setInterval(() => {
  const t = performance.now()
  longest = Math.max(longest, t - last)
  last = t
}, 5)
const r = await warmUpFromStore(live, store, { windowMs: W, untilMs: startedAtMs, windows: WINDOWS })
clearInterval(timer)
const l = await live.learning()
console.log(
  JSON.stringify({
    ...(restored !== null ? { restored } : {}),
    series: r.series,
    continued: r.continued,
    windows: r.windows,
    ms: Math.round(r.ms),
    readMs: Math.round(r.readMs),
    windowsPerSec: Math.round(r.windows / (r.ms / 1000)),
    longestEventLoopWaitMs: Math.round(longest),
    learningSeries: l.learningSeries,
  }),
)
await store.close()
