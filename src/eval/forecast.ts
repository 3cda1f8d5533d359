/**
 * @module `vigil eval forecast`: a generated suite of traffic-like series (daily and weekly
 * seasonality, growth, level shifts, spikes, low counts; 1-minute, 5-minute and hourly sampling),
 * each model forecasting a held-out window, scored by MASE (in-sample seasonal naive scale),
 * sMAPE, interval coverage and fit time.
 */
import { checkOutputWritable, writeOutput } from '../output.js'
import { VGL_ERR_CLI_USAGE } from '../errors.js'
import { parseFlags } from '../parsing.js'
import { forecastSeries, maseScale, type ForecastOptions, type ModelName } from '../forecast/forecaster.js'
import { gaussian, rng } from '../forecast/stats.js'

export interface SuiteSeries {
  readonly name: string
  readonly freqSec: number
  readonly values: number[]
  readonly horizon: number
  /** the daily period in steps, used as the MASE scale's seasonal lag */
  readonly daily: number
}

interface Variant {
  growth: number
  shift: number
  spikes: number
  scale: number
}

const VARIANTS: Record<string, Variant> = {
  plain: { growth: 0, shift: 0, spikes: 0, scale: 200 },
  growth: { growth: 0.5, shift: 0, spikes: 0, scale: 200 },
  shift: { growth: 0, shift: 0.35, spikes: 0, scale: 200 },
  spikes: { growth: 0, shift: 0, spikes: 0.004, scale: 200 },
  lowcount: { growth: 0.2, shift: 0, spikes: 0.002, scale: 4 },
  mixed: { growth: 0.3, shift: -0.25, spikes: 0.003, scale: 60 },
}

const FREQS = [
  { label: '1min', freqSec: 60, n: 4320, horizon: 60 },
  { label: '5min', freqSec: 300, n: 4320, horizon: 48 },
  { label: 'hourly', freqSec: 3600, n: 1344, horizon: 48 },
]

function poisson(lambda: number, u: () => number, g: () => number): number {
  if (lambda > 40) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * g()))
  const L = Math.exp(-lambda)
  let k = 0
  let p = 1
  do {
    k++
    p *= u()
  } while (p > L)
  return k - 1
}

/** Generates the suite; deterministic for a seed. */
export function generateSuite(seed = 1, variants: readonly string[] = Object.keys(VARIANTS)): SuiteSeries[] {
  const out: SuiteSeries[] = []
  let s = seed
  for (const f of FREQS)
    for (const vname of variants) {
      const v = VARIANTS[vname]
      const u = rng(s++ * 7919)
      const g = gaussian(u)
      const total = f.n + f.horizon
      // a random start hour, so held-out windows fall at any time of day
      const phase = u() * 24
      // the level shift lands in the training data, 10-30% of the history before the test window
      const shiftAt = f.n - Math.floor((0.1 + 0.2 * u()) * f.n)
      const values: number[] = []
      for (let i = 0; i < total; i++) {
        const t = i * f.freqSec
        const hour = (t / 3600 + phase) % 24
        const day = Math.floor((t / 3600 + phase) / 24) % 7
        const daily =
          0.55 -
          0.4 * Math.cos((2 * Math.PI * (hour - 3)) / 24) -
          0.1 * Math.cos((4 * Math.PI * (hour - 1)) / 24)
        const weekly = day >= 5 ? 0.65 : 1
        const growth = 1 + v.growth * (i / f.n)
        const shift = i >= shiftAt ? 1 + v.shift : 1
        let lambda = v.scale * Math.max(0.02, daily) * weekly * growth * shift
        if (u() < v.spikes) lambda *= 2 + 3 * u()
        values.push(poisson(lambda, u, g))
      }
      out.push({
        name: `${f.label}-${vname}`,
        freqSec: f.freqSec,
        values,
        horizon: f.horizon,
        daily: Math.round(86400 / f.freqSec),
      })
    }
  return out
}

export interface EvalRow {
  readonly model: string
  readonly mase: number
  readonly smape: number
  readonly coverage: number
  readonly fitMs: number
  readonly series: number
  /** per-series MASE, for the breakdowns */
  readonly perSeries: Record<string, number>
  readonly chosen: Record<string, string>
}

interface Contender {
  label: string
  opts: Partial<ForecastOptions>
}

const CONTENDERS: Contender[] = [
  { label: 'naive', opts: { model: 'naive' } },
  { label: 'snaive', opts: { model: 'snaive' } },
  { label: 'drift', opts: { model: 'drift' } },
  { label: 'ets', opts: { model: 'ets' } },
  { label: 'theta', opts: { model: 'theta' } },
  { label: 'arima', opts: { model: 'arima' } },
  { label: 'prophet', opts: { model: 'prophet' } },
  { label: 'auto (best single)', opts: { model: 'auto', selection: 'best' } },
  { label: 'auto (always combine)', opts: { model: 'auto', selection: 'combo' } },
  { label: 'auto', opts: { model: 'auto' } },
]

/** Scores every contender on every series of the suite. */
export function evaluate(
  suite: readonly SuiteSeries[],
  level = 80,
  contenders = CONTENDERS,
  onProgress?: (msg: string) => void,
): EvalRow[] {
  const rows: EvalRow[] = []
  for (const c of contenders) {
    let mase = 0
    let smape = 0
    let covered = 0
    let points = 0
    let ms = 0
    const perSeries: Record<string, number> = {}
    const chosen: Record<string, string> = {}
    for (const s of suite) {
      const train = s.values.slice(0, s.values.length - s.horizon)
      const test = s.values.slice(s.values.length - s.horizon)
      const t0 = performance.now()
      const r = forecastSeries(train, {
        horizon: s.horizon,
        level,
        freqSec: s.freqSec,
        ...c.opts,
        model: c.opts.model as ModelName,
      })
      ms += performance.now() - t0
      const scale = maseScale(train, s.daily)
      let m = 0
      for (let h = 0; h < s.horizon; h++) {
        const e = Math.abs(test[h] - r.forecast[h])
        m += e / scale
        const d = Math.abs(test[h]) + Math.abs(r.forecast[h])
        smape += d === 0 ? 0 : (200 * e) / d
        if (test[h] >= r.lower[h] && test[h] <= r.upper[h]) covered++
        points++
      }
      perSeries[s.name] = m / s.horizon
      chosen[s.name] = r.model
      mase += m / s.horizon
    }
    rows.push({
      model: c.label,
      mase: mase / suite.length,
      smape: smape / points,
      coverage: (100 * covered) / points,
      fitMs: ms / suite.length,
      series: suite.length,
      perSeries,
      chosen,
    })
    onProgress?.(`${c.label}: MASE ${rows[rows.length - 1].mase.toFixed(3)}`)
  }
  return rows
}

/** Markdown table of the results. */
export function formatTable(rows: readonly EvalRow[], level: number): string {
  const lines = [
    `| model | MASE | sMAPE % | coverage of ${level}% interval | fit ms / series |`,
    '|---|---:|---:|---:|---:|',
  ]
  for (const r of rows)
    lines.push(
      `| ${r.model} | ${r.mase.toFixed(3)} | ${r.smape.toFixed(2)} | ${r.coverage.toFixed(1)} | ${r.fitMs.toFixed(0)} |`,
    )
  return lines.join('\n')
}

/** Per-series MASE of a few models side by side. */
export function formatBreakdown(rows: readonly EvalRow[], models: readonly string[]): string {
  const chosen = rows.filter((r) => models.includes(r.model))
  const names = Object.keys(chosen[0]?.perSeries ?? {})
  const lines = [
    `| series | ${chosen.map((r) => r.model).join(' | ')} | auto chose |`,
    `|---|${chosen.map(() => '---:').join('|')}|---|`,
  ]
  const auto = rows.find((r) => r.model === 'auto')
  for (const n of names)
    lines.push(
      `| ${n} | ${chosen.map((r) => r.perSeries[n].toFixed(3)).join(' | ')} | ${auto?.chosen[n] ?? ''} |`,
    )
  return lines.join('\n')
}

const usage = `usage: vigil eval forecast [--quick] [--seed N] [--level P] [--models a,b,...] [--out FILE]

Backtests every model on a generated suite of traffic-like series (1-minute, 5-minute and hourly
sampling; plain, growth, level shift, spikes, low counts, mixed) and prints MASE (scaled by the
in-sample seasonal naive error at the daily period), sMAPE, interval coverage and fit time.
--quick uses two variants per frequency; --out writes the markdown tables to FILE.`

export const suite = {
  usage,
  async run(argv: string[]): Promise<number> {
    const { values: f } = parseFlags(
      argv,
      {
        quick: { type: 'boolean' },
        seed: { type: 'string' },
        level: { type: 'string' },
        models: { type: 'string' },
        out: { type: 'string' },
      },
      usage,
    )
    const seed = f.seed !== undefined ? Number(f.seed) : 1
    const level = f.level !== undefined ? Number(f.level) : 80
    if (!Number.isInteger(seed)) throw VGL_ERR_CLI_USAGE(`--seed: expected an integer, got "${f.seed}"`)
    if (!(level > 0 && level < 100))
      throw VGL_ERR_CLI_USAGE(`--level: expected a percentage, got "${f.level}"`)
    let contenders = CONTENDERS
    if (f.models !== undefined) {
      const want = f.models.split(',').map((s) => s.trim())
      contenders = CONTENDERS.filter((c) => want.includes(c.label) || want.includes(String(c.opts.model)))
      if (contenders.length === 0)
        throw VGL_ERR_CLI_USAGE(`--models: none of "${f.models}" is a model of the suite`)
    }
    if (f.out !== undefined) checkOutputWritable(f.out, '--out')
    const series = generateSuite(seed, f.quick === true ? ['plain', 'spikes'] : undefined)
    const t0 = performance.now()
    const rows = evaluate(series, level, contenders, (m) => process.stderr.write(`eval forecast: ${m}\n`))
    const total = (performance.now() - t0) / 1000
    const text = [
      `${series.length} series, horizon 60 (1min), 48 (5min, hourly); ${total.toFixed(0)} s in total`,
      '',
      formatTable(rows, level),
      '',
      formatBreakdown(rows, ['snaive', 'ets', 'theta', 'arima', 'prophet', 'auto']),
      '',
    ].join('\n')
    process.stdout.write(text)
    if (f.out !== undefined && f.out !== '-') writeOutput(f.out, text, '--out')
    return 0
  },
}
