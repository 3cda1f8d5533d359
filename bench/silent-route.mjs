/**
 * A route that goes silent, in the live layer (LiveAnomalies.hook, as the control plane drives it:
 * 10 s windows, a series with no requests ships no window). Measures, per seed:
 * - how many windows into a silence a busy route's rate anomaly opens, at several request rates;
 * - the anomalies a low-traffic route (empty windows normal) opens over 6 hours, with silent
 *   windows judged (the default lag) and without (a lag no silence reaches: the old behaviour).
 *
 * Build first (`./node_modules/.bin/tsc -p tsconfig.build.json`), then `node bench/silent-route.mjs`.
 */
import { LiveAnomalies, SILENCE_LAG } from '../dist/control/anomalies.js'
import { rng } from '../dist/forecast/stats.js'

const STEP = 10_000
const T0 = 1_700_000_000_000
const WARM = 400
const SEEDS = [1, 2, 3, 4, 5, 6]

function poisson(r, mean) {
  if (mean > 50) {
    const z = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z))
  }
  const l = Math.exp(-mean)
  let k = 0
  let p = 1
  do {
    k++
    p *= r()
  } while (p > l)
  return k - 1
}

function point(i, count) {
  return {
    startMs: T0 + i * STEP,
    durationMs: STEP,
    count,
    ratePerSec: count / 10,
    errorRatio: 0,
    upstreamErrorRatio: 0,
    refused: 0,
    refused5xx: 0,
    limitedRatio: 0,
    timeouts: 0,
    connectErrors: 0,
    statusClass: [0, count, 0, 0, 0],
    bytesIn: 0,
    bytesOut: 0,
    p50: 40,
    p95: 72,
    p99: 100,
    sources: 1,
  }
}

const OTHER = { service: 's', route: '/other', env: 'p' }
const ROUTE = { service: 's', route: '/route', env: 'p' }
const ship = (live, series, i, n) => n > 0 && live.hook(series, point(i, n), { correction: false })

/** windows into the silence at which the rate anomaly opens (null: never within 60) */
function delay(seed, perWindow) {
  const live = new LiveAnomalies({ startedAtMs: T0 })
  let at = null
  let text = ''
  live.on('anomaly', (a, t) => {
    if (t === 'opened' && a.key === 's|/route|p' && a.metric === 'rate' && at === null) {
      at = (a.openedAtMs - T0) / STEP - WARM
      text = `${a.silence?.windows} windows, ${a.silence?.expectedPerWindow.toFixed(1)} expected`
    }
  })
  const r = rng(seed)
  for (let i = 0; i < WARM + 60; i++) {
    ship(live, OTHER, i, poisson(r, 60))
    ship(live, ROUTE, i, i < WARM ? poisson(r, perWindow) : 0)
  }
  return { at, text }
}

function quiet(seed, mean, silenceLag, bursty = false) {
  const live = new LiveAnomalies({ startedAtMs: T0, silenceLag })
  const opened = {}
  live.on('anomaly', (a, t) => {
    if (t === 'opened' && a.key === 's|/route|p')
      opened[`${a.metric}/${a.detector}`] = (opened[`${a.metric}/${a.detector}`] ?? 0) + 1
  })
  const r = rng(seed)
  for (let i = 0; i < 2160; i++) {
    ship(live, OTHER, i, poisson(r, 120))
    // bursty: a window's mean is 0.2 or 1.8 times the day's (over-dispersed, clustered clients)
    const burst = bursty ? (r() < 0.5 ? 0.2 : 1.8) : 1
    ship(live, ROUTE, i, poisson(r, burst * mean * (1 + 0.5 * Math.sin((2 * Math.PI * i) / 8640))))
  }
  return opened
}

console.log(`silence lag ${SILENCE_LAG} windows; seeds ${SEEDS.join(', ')}`)
for (const perWindow of [120, 20, 5, 2]) {
  const rows = SEEDS.map((s) => delay(s, perWindow))
  console.log(
    `busy route, ${perWindow} requests a window: rate anomaly opened at window ${rows.map((x) => x.at ?? 'never').join(', ')} of the silence (${rows[0].text})`,
  )
}
const sum = (list) => {
  const out = {}
  for (const o of list) for (const [k, v] of Object.entries(o)) out[k] = (out[k] ?? 0) + v
  return JSON.stringify(out)
}
for (const bursty of [false, true])
  for (const mean of [0.25, 1, 3]) {
    const filled = sum(SEEDS.map((s) => quiet(s, mean, SILENCE_LAG, bursty)))
    const unfilled = sum(SEEDS.map((s) => quiet(s, mean, 1e6, bursty)))
    console.log(
      `low-traffic route${bursty ? ' (bursty)' : ''}, ${mean} requests a window, 6 h x ${SEEDS.length} seeds: opened ${filled} with silent windows judged, ${unfilled} without`,
    )
  }
