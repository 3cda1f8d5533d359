// Detector throughput: the default novelty detector, the univariate ensemble and each member (points/s, one core), the live
// SeriesEnsemble per window (→ cost of 10,000 series every 10 s), ClientOutliers per client window,
// and `vigil detect` on 20,000 rows end to end. Baseline in the same run: an online EWMA z-score, the cheapest sensible detector.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClientOutliers, createCalibrated, createDetector, SeriesEnsemble } from '../dist/detect/index.js'

const N = 200_000
let seed = 1
const rand = () => (seed = (seed * 16807) % 2147483647) / 2147483647
const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
const values = new Float64Array(N)
for (let i = 0; i < N; i++)
  values[i] = 1000 + 400 * Math.sin((2 * Math.PI * i) / 288) + 30 * gauss() + (i % 5000 === 4999 ? 600 : 0)

// CPU time of this process, not wall time: the machine is shared, and a detector's cost is the
// CPU it burns; wall time is reported only for the spawned CLI (with a bare `node -e 0` beside it)
function timeIt(fn) {
  const t = process.cpuUsage()
  fn()
  const d = process.cpuUsage(t)
  return (d.user + d.system) / 1e6
}

function wallIt(fn) {
  const t = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t) / 1e9
}

const rows = []
function measure(name, make, step) {
  // one warm-up pass on a slice so the JIT has compiled the hot paths
  const w = make()
  for (let i = 0; i < 20_000; i++) step(w, values[i])
  const d = make()
  const secs = timeIt(() => {
    for (let i = 0; i < N; i++) step(d, values[i])
  })
  rows.push([name, Math.round(N / secs)])
}

measure(
  'baseline: EWMA z-score',
  () => ({ m: 0, v: 1, n: 0 }),
  (s, x) => {
    const z = (x - s.m) / Math.sqrt(s.v)
    s.m += (x - s.m) / 100
    s.v += ((x - s.m) ** 2 - s.v) / 100
    s.n += z > 4 ? 1 : 0
  },
)
measure(
  'novelty (vigil detect default)',
  () => createCalibrated('novelty', { stepMs: 300_000 }),
  (d, x) => d.process(x),
)
measure(
  'ensemble',
  () => createCalibrated('ensemble', { stepMs: 300_000 }),
  (d, x) => d.process(x),
)
for (const name of ['robust-z', 'rolling-quantile', 'poisson', 'hst', 'iforest', 'cusum'])
  measure(
    `${name} (raw)`,
    () => createDetector(name),
    (d, x) => {
      d.score(x)
      d.update(x)
    },
  )

console.log('| detector | points per CPU-second |\n|---|---|')
for (const [n, r] of rows) console.log(`| ${n} | ${r.toLocaleString('en-US')} |`)

// Live: one SeriesEnsemble per series key, one multi-metric point per window.
// as the control plane runs it (detect.historySize 512), past the novelty detectors' 2,500-point
// ranking windows, which cost more once full
const banks = 50
const windows = 3000
const mem0 = process.memoryUsage()
const live = Array.from({ length: banks }, (_, k) => new SeriesEnsemble({ seed: k, historySize: 512 }))
const pt = (i) => {
  const requests = Math.round(1000 + 300 * Math.sin(i / 60) + 30 * gauss())
  const errors = Math.max(0, Math.round(requests * 0.01 + 3 * gauss()))
  const p95 = 120 + 6 * gauss()
  return {
    rate: requests / 10,
    errorRatio: errors / requests,
    p50: 40 + 2 * gauss(),
    p95,
    p99: p95 * 1.6,
    limitedRatio: 0,
    requests,
    errors,
  }
}
const pts = Array.from({ length: windows }, (_, i) => pt(i))
for (let i = 0; i < 100; i++) for (const b of live) b.step(pts[i])
const secs = timeIt(() => {
  for (let i = 100; i < windows; i++) for (const b of live) b.step(pts[i])
})
const perStepUs = (secs / (banks * (windows - 100))) * 1e6
const share = (1_000 * perStepUs) / 1e6 / 10
// typed arrays live outside the JS heap: count both
const mem1 = process.memoryUsage()
const perBankMb = (mem1.heapUsed + mem1.arrayBuffers - mem0.heapUsed - mem0.arrayBuffers) / 2 ** 20 / banks
console.log(`\nSeriesEnsemble.step (7 metrics + joint HST): ${perStepUs.toFixed(1)} µs per series-window`)
console.log(
  `1,000 series (detect.maxSeries default) every 10 s: ${((1_000 * perStepUs) / 1e3).toFixed(0)} ms of CPU per 10 s = ${(share * 100).toFixed(2)}% of one core; memory ${perBankMb.toFixed(2)} MB per bank (≈ ${perBankMb.toFixed(1)} GB for 1,000)`,
)

// Abusive clients: one ClientOutliers step per client window (default one a minute), with the
// forest refitted every window, for populations of 1,000 and 10,000 clients
for (const n of [1_000, 10_000]) {
  const habits = Array.from({ length: n }, () => ({
    rate: Math.exp(3 + 3 * rand()),
    latency: 30 + 100 * rand(),
    routes: 1 + Math.floor(10 * rand()),
  }))
  const clientWindow = () =>
    habits.map((h, i) => ({
      clientId: `k${i}`,
      requests: Math.round(h.rate * (0.8 + 0.4 * rand())),
      errors: Math.round(h.rate * 0.01 * rand()),
      meanLatencyMs: h.latency,
      distinctRoutes: h.routes,
    }))
  const det = new ClientOutliers()
  for (let w = 0; w < 10; w++) det.step(clientWindow())
  const stepWindows = Array.from({ length: 20 }, clientWindow)
  const secs = timeIt(() => stepWindows.forEach((w) => det.step(w)))
  console.log(
    `ClientOutliers.step, ${n.toLocaleString('en-US')} clients per window: ${((secs / stepWindows.length) * 1000).toFixed(1)} ms of CPU per window`,
  )
}

// vigil detect end to end on 20,000 rows, process start included
const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'))
const input = join(dir, 'in.csv')
const lines = ['timestamp,value']
const t0 = Date.parse('2024-01-01T00:00:00Z')
for (let i = 0; i < 20_000; i++)
  lines.push(`${new Date(t0 + i * 300_000).toISOString()},${values[i].toFixed(3)}`)
writeFileSync(input, lines.join('\n') + '\n')
const bin = fileURLToPath(new URL('../bin/vigil.js', import.meta.url))
const runs = []
for (let r = 0; r < 3; r++) {
  runs.push(
    wallIt(() =>
      spawnSync(process.execPath, [bin, 'detect', '--input', input, '--output', join(dir, 'out.csv')]),
    ),
  )
}
const nodeOnly = wallIt(() => spawnSync(process.execPath, ['-e', '0']))
rmSync(dir, { recursive: true, force: true })
console.log(
  `\nvigil detect, 20,000 rows, wall time incl. process start: ${runs.map((s) => `${(s * 1000).toFixed(0)} ms`).join(', ')} (bare \`node -e 0\`: ${(nodeOnly * 1000).toFixed(0)} ms)`,
)
