#!/usr/bin/env node
// Autoscaling quality: the predictive policy against the HPA-shaped reactive baseline and a
// perfect-foresight reference on the generated scenarios (src/eval/autoscale-suite.ts), plus the
// predictive policy's runtime. Optional: SEEDS=1,2,3 (default 1), STAB=30m adds a run with that
// stabilisation, REAL_DIR=<folder of timestamp,value CSVs> adds real series (held out: never tuned on).
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { generateScenario, SCENARIO_NAMES } from '../dist/eval/autoscale-suite.js'
import { runPerfectForesight, runPredictive, runReactive } from '../dist/scale/index.js'

const seeds = (process.env.SEEDS ?? '1').split(',').map(Number)
const extraStab = process.env.STAB === undefined ? null : parseDuration(process.env.STAB)
const STARTUP_MS = 120_000

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
  const p = runPredictive(values, { ...base, stabilizationMs: 300_000, freqSec: stepMs / 1000 })
  const ms = performance.now() - t0
  const r = runReactive(values, base)
  const f = runPerfectForesight(values, base)
  const row = { label, n: values.length, p, r, f, ms, s: null }
  if (extraStab !== null)
    row.s = runPredictive(values, { ...base, stabilizationMs: extraStab, freqSec: stepMs / 1000 })
  rows.push(row)
  print(row)
}

const fx = (v, d = 0) => v.toFixed(d)
function print(x) {
  const ratio = (a, b) => (b === 0 ? (a === 0 ? '1.00' : 'inf') : (a / b).toFixed(2))
  console.log(
    `| ${x.label} | ${fx(x.p.underProvisionedMinutes)} / ${fx(x.p.replicaMinutes)} / ${x.p.actions} | ${fx(x.r.underProvisionedMinutes)} / ${fx(x.r.replicaMinutes)} / ${x.r.actions} | ${fx(x.f.underProvisionedMinutes)} / ${fx(x.f.replicaMinutes)} / ${x.f.actions} | ×${ratio(x.p.underProvisionedMinutes, x.r.underProvisionedMinutes)} | ×${ratio(x.p.replicaMinutes, x.r.replicaMinutes)} | ${(x.ms / 1000).toFixed(1)} s (${x.n} rows, ${x.p.fits} fits) |` +
      (x.s
        ? ` ${fx(x.s.underProvisionedMinutes)} / ${fx(x.s.replicaMinutes)} (×${ratio(x.s.underProvisionedMinutes, x.r.underProvisionedMinutes)}, ×${ratio(x.s.replicaMinutes, x.r.replicaMinutes)}) |`
        : ''),
  )
}

console.log(
  `autoscale: start-up ${STARTUP_MS / 1000} s, target utilisation 0.8, replicas 1..50, predictive stabilisation 5m, level 90, headroom budget 0.15`,
)
console.log(
  `| scenario | predictive under-min / replica-min / actions | HPA-shaped | perfect foresight | under ratio | replica-min ratio | predictive runtime |${extraStab ? ` predictive stab. ${process.env.STAB} |` : ''}`,
)
console.log(`|---|---|---|---|---|---|---|${extraStab ? '---|' : ''}`)
for (const seed of seeds)
  for (const name of SCENARIO_NAMES) {
    const s = generateScenario(name, seed)
    run(`${name} (seed ${seed})`, s.values, s.stepMs, s.capacityPerReplica)
  }

if (process.env.REAL_DIR && existsSync(process.env.REAL_DIR)) {
  for (const file of readdirSync(process.env.REAL_DIR)
    .filter((f) => f.endsWith('.csv'))
    .sort()) {
    const lines = readFileSync(join(process.env.REAL_DIR, file), 'utf8').trim().split('\n').slice(1)
    const ts = lines.map((l) => Date.parse(l.split(',')[0].replace(' ', 'T') + 'Z'))
    const values = lines.map((l) => Number(l.split(',')[1]))
    const sorted = [...values].sort((a, b) => a - b)
    // sized so the median needs about two and a half replicas at 80%
    const cap = sorted[Math.floor(sorted.length / 2)] / 2
    if (!(cap > 0)) continue
    run(`${file} (real)`, values, ts[1] - ts[0], cap)
  }
}

const bar = rows.filter((x) => !x.label.endsWith('(real)'))
const pass = bar.filter(
  (x) =>
    x.p.underProvisionedMinutes <= 0.5 * x.r.underProvisionedMinutes &&
    x.p.replicaMinutes <= 1.2 * x.r.replicaMinutes,
).length
console.log(
  `\nbar (under-provisioned ≤ ½ HPA at ≤ 1.2× replica-minutes): ${pass} of ${bar.length} generated scenarios`,
)
