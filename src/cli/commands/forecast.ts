/** @module `vigil forecast`: reads `timestamp,value`, writes `step,forecast,lower,upper`. */
import { VGL_ERR_CLI_USAGE, VGL_ERR_CSV_INPUT } from '../../errors.js'
import { MAX_HORIZON, MODEL_NAMES, forecastSeries, type ModelName } from '../../forecast/forecaster.js'
import type { ForecastResult } from '../../forecast/types.js'
import { parseFlags } from '../args.js'
import type { Command } from '../command.js'
import {
  checkOutputNotInput,
  checkOutputWritable,
  readSeriesCsv,
  regularSeries,
  timestampReading,
  writeCsv,
} from '../csv.js'

const usage = `usage: vigil forecast --input s.csv --horizon H --output o.csv [options]

Reads a CSV with header timestamp,value (ISO-8601 or epoch seconds/ms, equally spaced; whole
missing intervals are filled) and writes step,forecast,lower,upper for steps 1..H.

  --input FILE      input CSV (required)
  --output FILE     output CSV (required; "-" writes to stdout)
  --horizon H       steps to forecast (required)
  --model NAME      auto (default) | naive | snaive | drift | ets | arima | theta | prophet | lstm
                    auto backtests every model and picks one or a weighted combination by MASE
  --season S[,S2]   seasonal period(s) in steps, overriding detection (e.g. 24,168)
  --freq SECONDS    sampling interval, overriding the one inferred from the timestamps
  --level P         prediction interval level in percent (default 80)
  --order p,d,q     fixed ARIMA order for --model arima (e.g. 3,1,2)
  --quiet           do not print the chosen model and notes on stderr

Notes (fallbacks, filled values, skipped models) go to stderr.`

function intList(text: string, flag: string): number[] {
  const parts = text.split(',').map((s) => s.trim())
  const nums = parts.map(Number)
  if (parts.length === 0 || nums.some((n) => !Number.isInteger(n) || n < 0))
    throw VGL_ERR_CLI_USAGE(`${flag}: expected comma-separated whole numbers, got "${text}"`)
  return nums
}

function numberFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw VGL_ERR_CLI_USAGE(`${flag}: expected a number > 0, got "${text}"`)
  return n
}

/** the forecasting library's own minimum, checked here to name the file */
const MIN_ROWS = 3

export const command: Command = {
  summary: 'forecast a timestamp,value series with intervals (backtested model choice)',
  usage,
  async run(argv) {
    const { values: f } = parseFlags(
      argv,
      {
        input: { type: 'string' },
        output: { type: 'string' },
        horizon: { type: 'string' },
        model: { type: 'string' },
        season: { type: 'string' },
        freq: { type: 'string' },
        level: { type: 'string' },
        order: { type: 'string' },
        quiet: { type: 'boolean' },
      },
      usage,
    )
    if (f.input === undefined) throw VGL_ERR_CLI_USAGE(`--input is required\n\n${usage}`)
    if (f.output === undefined) throw VGL_ERR_CLI_USAGE(`--output is required\n\n${usage}`)
    if (f.horizon === undefined) throw VGL_ERR_CLI_USAGE(`--horizon is required\n\n${usage}`)
    const horizon = Number(f.horizon)
    if (!Number.isInteger(horizon) || horizon < 1 || horizon > MAX_HORIZON)
      throw VGL_ERR_CLI_USAGE(
        `--horizon: expected a whole number of steps from 1 to ${MAX_HORIZON}, got "${f.horizon}"`,
      )
    const model = f.model ?? 'auto'
    if (model !== 'lstm' && !(MODEL_NAMES as readonly string[]).includes(model))
      throw VGL_ERR_CLI_USAGE(`--model: expected one of ${MODEL_NAMES.join(', ')}, lstm; got "${model}"`)
    const level = numberFlag(f.level, '--level') ?? 80
    if (level >= 100)
      throw VGL_ERR_CLI_USAGE(`--level: expected a percentage below 100 (e.g. 80), got "${f.level}"`)
    const freqSec = numberFlag(f.freq, '--freq')
    const season = f.season !== undefined ? intList(f.season, '--season') : undefined
    if (season?.some((s) => s < 1))
      throw VGL_ERR_CLI_USAGE(`--season: periods must be ≥ 1 step, got "${f.season}"`)
    let order: [number, number, number] | undefined
    if (f.order !== undefined) {
      const o = intList(f.order, '--order')
      if (o.length !== 3) throw VGL_ERR_CLI_USAGE(`--order: expected p,d,q (e.g. 3,1,2), got "${f.order}"`)
      order = [o[0], o[1], o[2]]
    }
    checkOutputWritable(f.output)
    checkOutputNotInput(f.output, f.input)

    const csv = readSeriesCsv(f.input)
    const { series, reg } = regularSeries(csv, f.input, freqSec)
    const known = reg.values.filter(Number.isFinite).length
    if (known < MIN_ROWS)
      throw VGL_ERR_CSV_INPUT(
        `${f.input}: ${known} row(s) with a value; forecasting needs at least ${MIN_ROWS}: give it a longer history`,
      )
    if (series.repeated > 0 || series.outOfOrder > 0)
      process.stderr.write(
        `vigil forecast: warning: ${f.input}: ${series.outOfOrder} row(s) out of time order and ${series.repeated} repeated timestamp(s); read in time order, the values of a repeated timestamp averaged\n`,
      )
    let result: ForecastResult
    if (model === 'lstm') {
      const { forecastLstm } = await import('../../forecast/lstm.js')
      result = await forecastLstm(reg.values, { horizon, level, season, freqSec: reg.freqSec })
    } else {
      result = forecastSeries(reg.values, {
        horizon,
        level,
        season,
        freqSec: reg.freqSec,
        model: model as ModelName,
        order,
      })
    }
    const rows = result.forecast.map((v, i) => [i + 1, v, result.lower[i], result.upper[i]])
    writeCsv(f.output, ['step', 'forecast', 'lower', 'upper'], rows)
    if (f.quiet !== true) {
      const reading = timestampReading(csv.timestampTexts)
      if (reading !== null) process.stderr.write(`vigil forecast: ${f.input}: ${reading}\n`)
      for (const note of [...reg.notes, ...result.notes]) process.stderr.write(`vigil forecast: ${note}\n`)
      const best = result.backtest.find((b) => b.weight > 0)
      const seasons = result.seasons.length ? result.seasons.join(',') : 'none'
      process.stderr.write(
        `vigil forecast: model ${result.model}; seasons ${seasons}${best && Number.isFinite(best.mase) ? `; backtest MASE ${best.mase.toFixed(3)}` : ''}\n`,
      )
    }
    return 0
  },
}
