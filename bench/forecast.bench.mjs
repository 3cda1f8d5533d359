// Forecast timing: `vigil forecast --model auto` on 1,000-point series, process start included
// (the budget is 2 s), against same-run baselines (`node -e 0` and `--model snaive`);
// then in-process fit time per model. Run: npm run bench -- forecast
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { forecastSeries } from '../dist/forecast/forecaster.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = join(root, 'bin', 'vigil.js')
const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-forecast-'))
const RUNS = Number(process.env.RUNS ?? 7)

function lcg(seed) {
  let s = seed
  return () => (s = (s * 16807) % 2147483647) / 2147483647
}

function series(n, stepSec, seed) {
  const u = lcg(seed)
  const t0 = Date.UTC(2026, 0, 5)
  const values = []
  for (let i = 0; i < n; i++) {
    const hour = ((i * stepSec) / 3600) % 24
    const day = Math.floor((i * stepSec) / 86400) % 7
    const level =
      (100 + 0.05 * i) * (0.6 + 0.4 * Math.sin((2 * Math.PI * (hour - 6)) / 24)) * (day >= 5 ? 0.7 : 1)
    values.push(Math.round(level + 10 * (u() - 0.5)))
  }
  const lines = [
    'timestamp,value',
    ...values.map((v, i) => `${new Date(t0 + i * stepSec * 1000).toISOString()},${v}`),
  ]
  return { values, csv: lines.join('\n') + '\n' }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

// CPU time (user + sys) of the child, through GNU time when present: on a shared machine wall
// time mostly measures the other tenants, CPU time measures us.
const gnuTime = spawnSync('/usr/bin/time', ['-f', '%U', 'true']).status === 0

function timeCmd(args) {
  const times = []
  const cpus = []
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now()
    const r = gnuTime
      ? spawnSync('/usr/bin/time', ['-f', 'CPU %U %S', process.execPath, ...args], { encoding: 'utf8' })
      : spawnSync(process.execPath, args, { encoding: 'utf8' })
    times.push(performance.now() - t)
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`)
    const m = /CPU ([\d.]+) ([\d.]+)/.exec(r.stderr)
    if (m) cpus.push((Number(m[1]) + Number(m[2])) * 1000)
  }
  return { median: median(times), max: Math.max(...times), cpu: cpus.length ? median(cpus) : NaN }
}

const cases = [
  { name: 'hourly, 1000 pts, h=48', n: 1000, step: 3600, h: 48 },
  { name: '1-min, 1000 pts, h=60', n: 1000, step: 60, h: 60 },
  { name: '5-min, 1000 pts, h=48', n: 1000, step: 300, h: 48 },
]

console.log(`runs per row: ${RUNS} (median / max wall ms, process start included)\n`)
console.log('| command | median wall ms | max wall ms | median CPU ms |')
console.log('|---|---:|---:|---:|')
const row = (name, r) =>
  console.log(`| ${name} | ${r.median.toFixed(0)} | ${r.max.toFixed(0)} | ${r.cpu.toFixed(0)} |`)
const base = timeCmd(['-e', '0'])
row('node -e 0 (baseline: process start)', base)
for (const c of cases) {
  const { csv } = series(c.n, c.step, 7)
  const input = join(dir, `${c.step}.csv`)
  writeFileSync(input, csv)
  const out = join(dir, 'out.csv')
  const common = [bin, 'forecast', '--input', input, '--horizon', String(c.h), '--output', out, '--quiet']
  const sn = timeCmd([...common, '--model', 'snaive'])
  row(`forecast --model snaive, ${c.name} (baseline)`, sn)
  const au = timeCmd([...common, '--model', 'auto'])
  row(`**forecast --model auto, ${c.name}**`, au)
}

console.log('\nin-process, hourly 1000 pts, h=48 (fit + 5 backtest refits), median of 3:\n')
console.log('| model | ms | chosen |')
console.log('|---|---:|---|')
const { values } = series(1000, 3600, 7)
for (const model of ['naive', 'snaive', 'drift', 'ets', 'theta', 'arima', 'prophet', 'auto']) {
  const times = []
  let chosen = ''
  for (let i = 0; i < 3; i++) {
    const t = performance.now()
    chosen = forecastSeries(values, { horizon: 48, freqSec: 3600, model }).model
    times.push(performance.now() - t)
  }
  console.log(`| ${model} | ${median(times).toFixed(0)} | ${chosen} |`)
}
rmSync(dir, { recursive: true, force: true })
