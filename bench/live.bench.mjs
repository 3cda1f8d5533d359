// Live detection and forecasting in the control plane: the LiveAnomalies window hook per
// series-window (baseline in the same run: SeriesEnsemble.step alone, which the hook wraps), and
// one LiveForecasts refit per series (rate + error-ratio and p95 failure forecasts, default
// candidates, 360 windows of history) against a rate-only forecastSeries fit as baseline.
// CPU time of this process (the machine is shared). Bounded: ~1-2 minutes.
import { SeriesEnsemble } from '../dist/detect/index.js'
import { LiveAnomalies, toMetricPoint } from '../dist/control/anomalies.js'
import { LiveForecasts } from '../dist/control/forecasts.js'
import { forecastSeries } from '../dist/forecast/index.js'

const SERIES = 200
const WINDOWS = 400
const STEP = 10_000
let seed = 1
const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647

function point(i, s) {
  const count = Math.round(500 + 50 * s + 100 * Math.sin(i / 30) + 40 * (rand() - 0.5))
  const errors = rand() < 0.3 ? 1 : 0
  const p50 = 20 + (s % 7) + 4 * rand()
  return {
    startMs: i * STEP,
    durationMs: STEP,
    count,
    ratePerSec: count / 10,
    errorRatio: errors / count,
    limitedRatio: 0,
    timeouts: 0,
    connectErrors: 0,
    statusClass: [0, count - errors, 0, 0, errors],
    bytesIn: 0,
    bytesOut: 0,
    p50,
    p95: p50 * 2,
    p99: p50 * 3,
    sources: 1,
  }
}

const cpu = (fn) => {
  const t = process.cpuUsage()
  fn()
  const d = process.cpuUsage(t)
  return (d.user + d.system) / 1e6
}

const keys = Array.from({ length: SERIES }, (_, s) => ({ service: 'svc', route: `/r${s}`, env: 'prod' }))
const pts = Array.from({ length: WINDOWS }, (_, i) => keys.map((_, s) => point(i, s)))

// baseline: the bank alone
const banks = keys.map(() => new SeriesEnsemble({ historySize: 512 }))
const tBase = cpu(() => {
  for (let i = 0; i < WINDOWS; i++) for (let s = 0; s < SERIES; s++) banks[s].step(toMetricPoint(pts[i][s]))
})
// the hook (LRU bookkeeping, children, records; no store)
const live = new LiveAnomalies({ historySize: 512 })
const tHook = cpu(() => {
  for (let i = 0; i < WINDOWS; i++)
    for (let s = 0; s < SERIES; s++) live.hook(keys[s], pts[i][s], { correction: false })
})
const n = SERIES * WINDOWS
const usBase = (tBase / n) * 1e6
const usHook = (tHook / n) * 1e6

// forecasts: 360 windows of history per series
const FSERIES = 20
const hist = keys.slice(0, FSERIES).map((_, s) => Array.from({ length: 360 }, (_, i) => point(i, s)))
const candidates = ['naive', 'snaive', 'drift', 'ets', 'theta']
forecastSeries(
  hist[0].map((p) => p.ratePerSec),
  { horizon: 30, freqSec: 10, candidates },
) // warm-up
const tRate = cpu(() => {
  for (const h of hist)
    forecastSeries(
      h.map((p) => p.ratePerSec),
      { horizon: 30, freqSec: 10, candidates },
    )
})
const byKey = new Map(keys.slice(0, FSERIES).map((k, s) => [`${k.service}|${k.route}|${k.env}`, hist[s]]))
const lf = new LiveForecasts({
  stepMs: STEP,
  history: (k) => Promise.resolve(byKey.get(`${k.service}|${k.route}|${k.env}`)),
})
await lf.forecast('svc|/r0|prod') // warm-up
const t0 = process.cpuUsage()
for (let s = 1; s < FSERIES; s++) await lf.forecast(`svc|/r${s}|prod`)
const d = process.cpuUsage(t0)
const tLive = (d.user + d.system) / 1e6
const msRate = (tRate / FSERIES) * 1e3
const msLive = (tLive / (FSERIES - 1)) * 1e3

console.log(`| measure | per unit | at scale |`)
console.log(`|---|---|---|`)
console.log(
  `| baseline: SeriesEnsemble.step (historySize 512) | ${usBase.toFixed(1)} µs / series-window | ${((usBase * 10_000) / 1e5).toFixed(1)}% of a core for 10,000 series / 10 s |`,
)
console.log(
  `| LiveAnomalies.hook | ${usHook.toFixed(1)} µs / series-window | ${((usHook * 10_000) / 1e5).toFixed(1)}% of a core for 10,000 series / 10 s |`,
)
console.log(
  `| baseline: forecastSeries rate only (default candidates, 360 pts, h 30) | ${msRate.toFixed(1)} ms / series | ${(((msRate * 1000) / 300_000) * 100).toFixed(1)}% of a core for 1,000 series / 300 s |`,
)
console.log(
  `| LiveForecasts refit (rate + error ratio + p95) | ${msLive.toFixed(1)} ms / series | ${(((msLive * 1000) / 300_000) * 100).toFixed(1)}% of a core for 1,000 series / 300 s |`,
)
