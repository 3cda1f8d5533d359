#!/usr/bin/env node
// Autoscaling quality: the predictive policy against the HPA-shaped reactive baseline and a
// perfect-foresight reference on the generated scenarios (src/eval/autoscale-suite.ts), plus the
// predictive policy's runtime (wall and CPU time: on a shared machine the CPU time is the steadier).
// Optional: SEEDS=1,2,3 (default 1), DAYS=42 generates that many days of 1-minute rows per scenario
// (default 14; 42 = 60,480 rows, for runtime on long series), SCENARIOS=a,b runs only those,
// STAB=30m adds a run with that stabilisation, REAL_DIR=<folder of timestamp,value CSVs> adds real
// series (none: no real series; held out: never tuned on;
// default: the NAB AWS CloudWatch folder of this machine's anomaly dev set when it exists, skipped
// otherwise; the data is read at run time and is not part of the repository), SIZING=p50/2 sizes
// each real series' replica capacity as that quantile of its values divided by that number
// (default p50/2: the median needs about two and a half replicas at 80%; p95/3 gives fleets of a
// few replicas, p50/5 larger ones).
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { generateScenario, SCENARIO_NAMES } from '../dist/eval/autoscale-suite.js'
import { runPerfectForesight, runPredictive, runReactive } from '../dist/scale/index.js'

const seeds = (process.env.SEEDS ?? '1').split(',').map(Number)
const days = Number(process.env.DAYS ?? 14)
const scenarios = process.env.SCENARIOS?.split(',') ?? SCENARIO_NAMES
const extraStab = process.env.STAB === undefined ? null : parseDuration(process.env.STAB)
const STARTUP_MS = 120_000
const REAL_DIR = process.env.REAL_DIR ?? '/work/shared/anomaly-dev/data/realAWSCloudwatch'

const sizing = /^p(\d{1,2})\/(\d+(?:\.\d+)?)$/.exec(process.env.SIZING ?? 'p50/2')
if (sizing === null)
  throw new Error(`SIZING: expected pQ/D such as p50/2 or p95/3, got ${process.env.SIZING}`)
const SIZING_Q = Number(sizing[1]) / 100
const SIZING_DIV = Number(sizing[2])

function parseDuration(t) {
  const m = /^(\d+)(m|s|h)$/.exec(t)
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2]]
}

const rows = []
function run(label, values, stepMs, capacityPerReplica) {
  const base = {
    stepMs,
    startupMs: STARTUP_MS,
    limits: { min: 1, max: 50, capacityPerReplica, targetUtilization: 0.8 },
  }
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  const p = runPredictive(values, { ...base, stabilizationMs: 300_000, freqSec: stepMs / 1000 })
  const ms = performance.now() - t0
  const cpuMs = process.cpuUsage(c0).user / 1000
  const r = runReactive(values, base)
  const f = runPerfectForesight(values, base)
  const row = { label, n: values.length, p, r, f, ms, cpuMs, s: null }
  if (extraStab !== null)
    row.s = runPredictive(values, { ...base, stabilizationMs: extraStab, freqSec: stepMs / 1000 })
  rows.push(row)
  print(row)
}

const fx = (v, d = 0) => v.toFixed(d)
const mostFollowed = (f) => {
  const total = Object.values(f).reduce((a, b) => a + b, 0)
  return Object.entries(f)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 2)
    .map(([k, n]) => `${k} ${Math.round((100 * n) / total)}%`)
    .join(', ')
}
function print(x) {
  const ratio = (a, b) => (b === 0 ? (a === 0 ? '1.00' : 'inf') : (a / b).toFixed(2))
  console.log(
    `| ${x.label} | ${fx(x.p.underProvisionedMinutes)} / ${fx(x.p.replicaMinutes)} / ${x.p.actions} | ${fx(x.r.underProvisionedMinutes)} / ${fx(x.r.replicaMinutes)} / ${x.r.actions} | ${fx(x.f.underProvisionedMinutes)} / ${fx(x.f.replicaMinutes)} / ${x.f.actions} | ×${ratio(x.p.underProvisionedMinutes, x.r.underProvisionedMinutes)} | ×${ratio(x.p.replicaMinutes, x.r.replicaMinutes)} | ${(x.ms / 1000).toFixed(1)} s, CPU ${(x.cpuMs / 1000).toFixed(1)} s (${x.n} rows, ${x.p.fits} fits) | ${mostFollowed(x.p.followed)} |` +
      (x.s
        ? ` ${fx(x.s.underProvisionedMinutes)} / ${fx(x.s.replicaMinutes)} (×${ratio(x.s.underProvisionedMinutes, x.r.underProvisionedMinutes)}, ×${ratio(x.s.replicaMinutes, x.r.replicaMinutes)}) |`
        : ''),
  )
}

console.log(
  `autoscale: start-up ${STARTUP_MS / 1000} s, real series sized at ${process.env.SIZING ?? 'p50/2'}, target utilisation 0.8, replicas 1..50, predictive stabilisation 5m, level 90, selection budget 0.18 over the HPA-shaped shadow`,
)
console.log(
  `| scenario | predictive under-min / replica-min / actions | HPA-shaped | perfect foresight | under ratio | replica-min ratio | predictive runtime | followed most |${extraStab ? ` predictive stab. ${process.env.STAB} |` : ''}`,
)
console.log(`|---|---|---|---|---|---|---|---|${extraStab ? '---|' : ''}`)
for (const seed of seeds)
  for (const name of scenarios) {
    const s = generateScenario(name, seed, days)
    run(`${name} (seed ${seed})`, s.values, s.stepMs, s.capacityPerReplica)
  }

if (existsSync(REAL_DIR)) {
  for (const file of readdirSync(REAL_DIR)
    .filter((f) => f.endsWith('.csv'))
    .sort()) {
    const lines = readFileSync(join(REAL_DIR, file), 'utf8').trim().split('\n').slice(1)
    const ts = lines.map((l) => Date.parse(l.split(',')[0].replace(' ', 'T') + 'Z'))
    const values = lines.map((l) => Number(l.split(',')[1]))
    const sorted = [...values].sort((a, b) => a - b)
    const cap = sorted[Math.floor(sorted.length * SIZING_Q)] / SIZING_DIV
    if (!(cap > 0)) continue
    run(`${file} (real)`, values, ts[1] - ts[0], cap)
  }
}

const bar = rows.filter((x) => !x.label.endsWith('(real)'))
const meets = (x) =>
  x.p.underProvisionedMinutes <= 0.5 * x.r.underProvisionedMinutes &&
  x.p.replicaMinutes <= 1.2 * x.r.replicaMinutes
// the same bar for the perfect-foresight reference: where even it misses (demand above `max`
// replicas, or more replica-minutes than the budget to be ready for every rise), no causal policy
// can meet it at that sizing
const meetsForesight = (x) =>
  x.f.underProvisionedMinutes <= 0.5 * x.r.underProvisionedMinutes &&
  x.f.replicaMinutes <= 1.2 * x.r.replicaMinutes
const pass = bar.filter(meets).length
const real = rows.filter((x) => x.label.endsWith('(real)'))
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]
console.log(
  `\nbar (under-provisioned ≤ ½ HPA at ≤ 1.2× replica-minutes): ${pass} of ${bar.length} generated scenarios` +
    (real.length > 0
      ? `; real series: ${real.filter(meets).length} of ${real.length} (perfect foresight, sized at the target utilisation: ${real.filter(meetsForesight).length}), median under ratio ×${median(real.map((x) => x.p.underProvisionedMinutes / Math.max(1e-9, x.r.underProvisionedMinutes))).toFixed(2)}, worst replica ratio ×${Math.max(...real.map((x) => x.p.replicaMinutes / x.r.replicaMinutes)).toFixed(2)}`
      : ''),
)
