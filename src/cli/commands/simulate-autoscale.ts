/**
 * @module `vigil simulate autoscale`: replays a `timestamp,value` demand series (req/s) under the
 * predictive policy and an HPA-shaped reactive baseline, writes the chosen policy's schedule
 * (`timestamp,replicas`, one row per input row) and prints under-provisioned minutes,
 * replica-minutes and scaling actions for both, with a perfect-foresight reference.
 */
import { VGL_ERR_CLI_USAGE, VGL_ERR_CSV_INPUT } from '../../errors.js'
import { MODEL_NAMES, type ModelName } from '../../forecast/forecaster.js'
import {
  HPA_STABILIZATION_MS,
  limitsProblem,
  runPerfectForesight,
  runPredictive,
  runReactive,
  type ScalingLimits,
  type SimulationResult,
} from '../../scale/index.js'
import { formatDurationMs, parseDurationMs, parseFlags } from '../args.js'
import type { Command } from '../command.js'
import {
  checkOutputNotInput,
  checkOutputWritable,
  csvField,
  readSeriesCsv,
  regularSeries,
  timestampReading,
  writeCsv,
  type CsvSeries,
} from '../csv.js'

const usage = `usage: vigil simulate autoscale --input demand.csv --capacity-per-replica C --output schedule.csv [options]

Reads timestamp,value (requests per second at a regular interval; missing intervals are simulated
as rows of unknown demand, rows out of order or repeated in time order, with a warning) and
writes timestamp,replicas: the replicas the policy asks for after each row, decided strictly
online (rows up to and including it). Replicas asked for become available --startup-seconds later. Prints, for the predictive
policy, the HPA-shaped reactive baseline and a perfect-foresight reference: under-provisioned
minutes (demand above the ready replicas' capacity), replica-minutes and scaling actions.

  --input FILE                 demand CSV (required)
  --output FILE                schedule CSV (required; "-" writes to stdout)
  --capacity-per-replica C     requests per second one replica serves at full utilisation (required:
                               a demand series has no latency to learn it from, as the live autoscaler does)
  --target-utilization U       utilisation to size for, in (0, 1] (default 0.8)
  --startup-seconds S          from asking for a replica until it serves (default 120)
  --min N / --max N            replica bounds (default 1 / 50)
  --stabilization D            predictive scale-down waits until the load of this long a window
                               needed fewer replicas, with a unit (default 5m, as the HPA baseline;
                               e.g. 30m, 90s, 1h)
  --policy predictive|reactive whose schedule to write (default predictive)
  --model NAME                 forecasting model: auto (default) | naive | snaive | drift | ets | theta | arima | prophet
  --level P                    forecast upper band level in percent (default 90)
  --headroom-budget B          extra replica-time the predictive policy may spend beyond the
                               HPA-shaped sizing of the observed load, as a fraction (default 0.18)
  --refit-every N              rows between forecast refits (default: ~150 fits over the series)
  --freq SECONDS               row interval, overriding the one inferred from the timestamps
  --quiet                      print only the figures table`

function num(
  text: string | undefined,
  flag: string,
  fallback: number,
  check: (n: number) => boolean,
  rule: string,
): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (text.trim() === '' || !Number.isFinite(n) || !check(n))
    throw VGL_ERR_CLI_USAGE(`${flag}: expected ${rule}, got "${text}"`)
  return n
}

const whole = (n: number) => Number.isInteger(n) && n >= 0

/**
 * Refuses a negative demand (a wrong column or a broken export, never a quiet interval) and warns
 * about empty or NaN values, which are simulated as unknown demand like a missing interval: both
 * name the file's lines, so the user can look at them.
 */
function checkDemand(csv: CsvSeries, file: string): void {
  const negative = csv.values.findIndex((v) => v < 0)
  if (negative >= 0)
    throw VGL_ERR_CSV_INPUT(
      `${file}:${csv.lines[negative]}: demand ${csv.values[negative]} is negative; demand is requests per second ≥ 0: fix or remove the line`,
    )
  const unknown = csv.lines.filter((_, i) => Number.isNaN(csv.values[i]))
  if (unknown.length === 0) return
  if (unknown.length === csv.values.length)
    throw VGL_ERR_CSV_INPUT(`${file}: every demand value is empty or NaN; nothing to simulate`)
  const shown = unknown.slice(0, 5).join(', ') + (unknown.length > 5 ? ` and ${unknown.length - 5} more` : '')
  process.stderr.write(
    `vigil simulate autoscale: warning: ${file}: ${unknown.length} empty or NaN demand value(s), line${unknown.length === 1 ? '' : 's'} ${shown}, simulated as rows of unknown demand (replicas run and cost there; never counted as under-provisioned)\n`,
  )
}

export const command: Command = {
  summary: 'replay a demand series under the predictive and an HPA-shaped autoscaler',
  usage,
  async run(argv) {
    const { values: f } = parseFlags(
      argv,
      {
        input: { type: 'string' },
        output: { type: 'string' },
        'capacity-per-replica': { type: 'string' },
        'target-utilization': { type: 'string' },
        'startup-seconds': { type: 'string' },
        min: { type: 'string' },
        max: { type: 'string' },
        stabilization: { type: 'string' },
        policy: { type: 'string' },
        model: { type: 'string' },
        level: { type: 'string' },
        'headroom-budget': { type: 'string' },
        'refit-every': { type: 'string' },
        freq: { type: 'string' },
        quiet: { type: 'boolean' },
      },
      usage,
    )
    for (const req of ['input', 'output', 'capacity-per-replica'] as const)
      if (f[req] === undefined) throw VGL_ERR_CLI_USAGE(`--${req} is required\n\n${usage}`)
    const limits: ScalingLimits = {
      capacityPerReplica: num(
        f['capacity-per-replica'],
        '--capacity-per-replica',
        0,
        (n) => n > 0,
        'requests per second > 0',
      ),
      targetUtilization: num(
        f['target-utilization'],
        '--target-utilization',
        0.8,
        (n) => n > 0 && n <= 1,
        'a fraction in (0, 1]',
      ),
      min: num(f.min, '--min', 1, whole, 'a whole number ≥ 0'),
      max: num(f.max, '--max', 50, (n) => whole(n) && n >= 1, 'a whole number ≥ 1'),
    }
    const problem = limitsProblem(limits)
    if (problem !== null) throw VGL_ERR_CLI_USAGE(`--${problem}`)
    const startupMs = num(f['startup-seconds'], '--startup-seconds', 120, (n) => n >= 0, 'seconds ≥ 0') * 1000
    const stabilizationMs =
      f.stabilization === undefined
        ? HPA_STABILIZATION_MS
        : parseDurationMs(f.stabilization, '--stabilization', { unitRequired: true })
    const policy = f.policy ?? 'predictive'
    if (policy !== 'predictive' && policy !== 'reactive')
      throw VGL_ERR_CLI_USAGE(`--policy: expected predictive or reactive, got "${policy}"`)
    const model = f.model ?? 'auto'
    if (!(MODEL_NAMES as readonly string[]).includes(model))
      throw VGL_ERR_CLI_USAGE(`--model: expected one of ${MODEL_NAMES.join(', ')}, got "${model}"`)
    const level = num(f.level, '--level', 90, (n) => n > 0 && n < 100, 'a percentage between 0 and 100')
    const headroomBudget = num(
      f['headroom-budget'],
      '--headroom-budget',
      0.18,
      (n) => n >= 0,
      'a fraction ≥ 0 (0.18 = 18%)',
    )
    const refitEvery =
      f['refit-every'] === undefined
        ? undefined
        : num(f['refit-every'], '--refit-every', 1, (n) => whole(n) && n >= 1, 'a whole number of rows ≥ 1')
    const freqArg = f.freq === undefined ? undefined : num(f.freq, '--freq', 1, (n) => n > 0, 'seconds > 0')

    checkOutputWritable(f.output!)
    checkOutputNotInput(f.output!, f.input!)

    const csv = readSeriesCsv(f.input!)
    checkDemand(csv, f.input!)
    const { series, reg } = regularSeries(csv, f.input!, freqArg)
    if (series.times.length < 2)
      throw VGL_ERR_CSV_INPUT(`${f.input}: needs at least 2 distinct timestamps, got ${series.times.length}`)
    if (series.repeated > 0 || series.outOfOrder > 0)
      process.stderr.write(
        `vigil simulate autoscale: warning: ${f.input}: ${series.outOfOrder} row(s) out of time order and ${series.repeated} repeated timestamp(s); simulated in time order, the values of a repeated timestamp averaged; the schedule keeps the input's rows and order\n`,
      )
    if (reg.freqSec === undefined)
      throw VGL_ERR_CSV_INPUT(
        `${f.input}: timestamps look like row numbers; give real timestamps or --freq SECONDS`,
      )
    const stepMs = reg.freqSec * 1000
    // a missing interval is a row of unknown demand: time (and replica cost) still passes there,
    // so the policies run on the regular grid and the schedule keeps the input's rows
    const demand = reg.values.map((v) => (Number.isFinite(v) ? v : NaN))
    const gridRow = csv.timestamps.map((ts) => Math.round((ts - series.times[0]) / stepMs))
    const missing = demand.length - series.times.length
    if (missing > 0)
      process.stderr.write(
        `vigil simulate autoscale: warning: ${f.input}: ${missing} missing interval(s) of ${reg.freqSec} s simulated as rows of unknown demand (replicas run and cost there; never counted as under-provisioned); the schedule keeps one row per input row\n`,
      )
    const base = { stepMs, startupMs, limits }

    const t0 = performance.now()
    const predictive = runPredictive(demand, {
      ...base,
      stabilizationMs,
      model: model as ModelName,
      freqSec: reg.freqSec,
      level,
      headroomBudget,
      refitEvery,
    })
    const predictiveMs = performance.now() - t0
    const reactive = runReactive(demand, base)
    const perfect = runPerfectForesight(demand, base)
    const chosen = policy === 'predictive' ? predictive : reactive
    // each input row's timestamp as written, so the schedule joins back to the input row by row
    const rows = csv.timestampTexts.map((ts, i) => [csvField(ts), chosen.schedule[gridRow[i]]])
    writeCsv(f.output!, ['timestamp', 'replicas'], rows)
    // the figures go to stderr when the schedule takes stdout
    const out = f.output === '-' ? process.stderr : process.stdout

    const line = (name: string, r: SimulationResult) =>
      `${name.padEnd(30)}${r.underProvisionedMinutes.toFixed(1).padStart(18)}${r.replicaMinutes.toFixed(0).padStart(15)}${String(r.actions).padStart(9)}\n`
    const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? '1.00' : '∞') : (a / b).toFixed(2))
    const reading = timestampReading(csv.timestampTexts)
    if (f.quiet !== true)
      out.write(
        (reading === null ? '' : `vigil simulate autoscale: ${f.input}: ${reading}\n`) +
          `vigil simulate autoscale: ${demand.length} rows of ${reg.freqSec} s; ${limits.capacityPerReplica} req/s per replica at ${limits.targetUtilization * 100}%; start-up ${startupMs / 1000} s; replicas ${limits.min}..${limits.max}\n` +
          `vigil simulate autoscale: predictive ran in ${(predictiveMs / 1000).toFixed(1)} s (${predictive.fits} forecast fits, last model ${predictive.lastModel})\n`,
      )
    out.write(
      `${'policy'.padEnd(30)}${'under-prov. min'.padStart(18)}${'replica-min'.padStart(15)}${'actions'.padStart(9)}\n` +
        line(`predictive (stab. ${formatDurationMs(stabilizationMs)})`, predictive) +
        line('reactive (HPA-shaped)', reactive) +
        line('perfect foresight (reference)', perfect) +
        `predictive / reactive: under-provisioned ×${ratio(predictive.underProvisionedMinutes, reactive.underProvisionedMinutes)}, replica-minutes ×${ratio(predictive.replicaMinutes, reactive.replicaMinutes)}\n`,
    )
    return 0
  },
}
