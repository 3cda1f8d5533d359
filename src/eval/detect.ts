/** @module `vigil eval detect`: runs every detector over the generated labelled suite and reports event-level metrics. */
import { createCalibrated, DEFAULT_DETECTOR, DETECTOR_NAMES } from '../detect/index.js'
import { generateDetectSuite, WARMUP_POINTS, type LabelledSeries } from './detect-suite.js'
import { checkOutputWritable, writeOutput } from '../output.js'
import { parseFlags } from '../parsing.js'
import { VGL_ERR_CLI_USAGE, VGL_ERR_CSV_INPUT } from '../errors.js'

export interface DetectorReport {
  readonly detector: string
  readonly precision: number
  readonly recall: number
  readonly f1: number
  /** median delay from window start to the first alarm inside it, in minutes (NaN if none) */
  readonly medianDelayMin: number
  readonly falseAlarmsPerDay: number
  readonly truePositives: number
  readonly falseNegatives: number
  readonly falseAlarms: number
  /** recall per anomaly kind */
  readonly recallByKind: Readonly<Record<string, number>>
  /** false alarms per family (trap series show the traps) */
  readonly falseAlarmsByFamily: Readonly<Record<string, number>>
  readonly pointsPerSec: number
}

/** Alarm rising edges (indices) for one detector over one series, ignoring the warm-up. */
export function alarmsFor(name: string, s: LabelledSeries, seed = 42): number[] {
  const d = createCalibrated(name, { seed, stepMs: s.stepMinutes * 60_000 })
  const raised: number[] = []
  for (let i = 0; i < s.values.length; i++) {
    const step = d.process(s.values[i])
    if (step.alarm === 'raised' && i >= WARMUP_POINTS) raised.push(i)
  }
  return raised
}

/**
 * Event-level scoring: an anomaly window is detected when at least one alarm is raised inside it
 * (it counts once however many alarms fall in it); every alarm raised outside all windows is one
 * false alarm. Precision = detected windows / (detected windows + false alarms).
 */
export function evaluateDetector(name: string, suite: readonly LabelledSeries[]): DetectorReport {
  let tp = 0
  let fn = 0
  let fa = 0
  let days = 0
  let points = 0
  const delays: number[] = []
  const kindHit: Record<string, [number, number]> = {}
  const famFa: Record<string, number> = {}
  const t0 = performance.now()
  for (const s of suite) {
    const alarms = alarmsFor(name, s)
    points += s.values.length
    days += ((s.values.length - WARMUP_POINTS) * s.stepMinutes) / 1440
    for (const w of s.anomalies) {
      const first = alarms.find((a) => a >= w.start && a <= w.end)
      const k = (kindHit[w.kind] ??= [0, 0])
      k[1]++
      if (first === undefined) fn++
      else {
        tp++
        k[0]++
        delays.push((first - w.start) * s.stepMinutes)
      }
    }
    for (const a of alarms) {
      if (!s.anomalies.some((w) => a >= w.start && a <= w.end)) {
        fa++
        famFa[s.family] = (famFa[s.family] ?? 0) + 1
      }
    }
  }
  const secs = (performance.now() - t0) / 1000
  const precision = tp + fa === 0 ? 0 : tp / (tp + fa)
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn)
  delays.sort((a, b) => a - b)
  const recallByKind: Record<string, number> = {}
  for (const [k, [h, n]] of Object.entries(kindHit)) recallByKind[k] = h / n
  return {
    detector: name,
    precision,
    recall,
    f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall),
    medianDelayMin: delays.length === 0 ? NaN : delays[Math.floor((delays.length - 1) / 2)],
    falseAlarmsPerDay: fa / days,
    truePositives: tp,
    falseNegatives: fn,
    falseAlarms: fa,
    recallByKind,
    falseAlarmsByFamily: famFa,
    pointsPerSec: points / secs,
  }
}

const f3 = (x: number): string => (Number.isNaN(x) ? '–' : x.toFixed(3))

/** The report as a Markdown table (plus a per-kind recall table). */
export function formatDetectReport(
  reports: readonly DetectorReport[],
  suite: readonly LabelledSeries[],
): string {
  const windows = suite.reduce((n, s) => n + s.anomalies.length, 0)
  const lines = [
    `Suite: ${suite.length} series × ${suite[0]?.values.length ?? 0} points (5-minute steps), ${windows} labelled anomaly windows, ${suite.filter((s) => s.anomalies.length === 0).length} anomaly-free trap series; alarms in the first ${WARMUP_POINTS} points (2 days) ignored.`,
    '',
    '| detector | precision | recall | F1 | median delay (min) | false alarms / day | TP | FN | FA |',
    '|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of reports)
    lines.push(
      `| ${r.detector} | ${f3(r.precision)} | ${f3(r.recall)} | ${f3(r.f1)} | ${Number.isNaN(r.medianDelayMin) ? '–' : r.medianDelayMin} | ${f3(r.falseAlarmsPerDay)} | ${r.truePositives} | ${r.falseNegatives} | ${r.falseAlarms} |`,
    )
  const kinds = [...new Set(reports.flatMap((r) => Object.keys(r.recallByKind)))].sort()
  lines.push('', `| recall by kind | ${kinds.join(' | ')} |`, `|---|${kinds.map(() => '---').join('|')}|`)
  for (const r of reports)
    lines.push(`| ${r.detector} | ${kinds.map((k) => f3(r.recallByKind[k] ?? NaN)).join(' | ')} |`)
  const fams = ['rate', 'latency', 'errors', 'trap']
  lines.push(
    '',
    `| false alarms by family | ${fams.join(' | ')} |`,
    `|---|${fams.map(() => '---').join('|')}|`,
  )
  for (const r of reports)
    lines.push(`| ${r.detector} | ${fams.map((f) => r.falseAlarmsByFamily[f] ?? 0).join(' | ')} |`)
  return `${lines.join('\n')}\n`
}

/** Runs the evaluation for the named detectors (default: every member and the ensemble). */
export function runDetectEval(options: { seed?: number; detectors?: readonly string[] } = {}): {
  reports: DetectorReport[]
  markdown: string
} {
  const suite = generateDetectSuite(options.seed ?? 1)
  const names = options.detectors ?? DETECTOR_NAMES.filter((n) => n !== 'ensemble').concat('ensemble')
  const reports = names.map((n) => evaluateDetector(n, suite))
  return { reports, markdown: formatDetectReport(reports, suite) }
}

const usage = `usage: vigil eval detect [--seed N] [--detector NAME]... [--dev-dir DIR [--dev-only]] [--out FILE.md]

Generates the labelled suite (64 series of 10 simulated days at 5-minute steps: request rates,
latencies, error counts, anomaly-free traps), runs every detector through the same calibration
and alarm hysteresis as \`vigil detect\`, and prints event-level precision, recall, F1, median
detection delay and false alarms per simulated day as Markdown (also to --out when given).

--dev-dir DIR also scores a labelled set of real series in DIR (data/<folder>/<file>.csv,
labels/combined_windows.json, config/profiles.json), read in place: each file is scored online
as \`vigil detect\` scores it, and the three window-scoring profiles (standard, low FP, low FN:
0 = never alarm, 100 = every window at its left edge and no false detections) are reported for
half A, half B and the whole set. Within each folder the files are ordered by the FNV-1a hash of
their name; the first half (rounded up) is A. Choose parameters on A, check them on B.
--dev-only skips the generated suite. Detectors: --detector (default: the default detector on
the development set; every detector on the generated suite).`

/** Reads the development set in `dir` (an error naming --dev-dir when it is not there), ready to report on. */
async function loadDev(dir: string): Promise<{ report(detectors: readonly string[]): string }> {
  const { loadDevSet, evaluateDevSet, formatDevReport } = await import('./detect-dev.js')
  let set: ReturnType<typeof loadDevSet>
  try {
    set = loadDevSet(dir)
  } catch (err) {
    throw VGL_ERR_CSV_INPUT(`--dev-dir: ${(err as Error).message}`)
  }
  return {
    report: (detectors) =>
      formatDevReport(
        detectors.map((n) => evaluateDevSet(set, n)),
        dir,
      ),
  }
}

/** The \`vigil eval detect\` suite (loaded lazily by src/cli/commands/eval.ts). */
export const suite = {
  usage,
  async run(argv: string[]): Promise<number> {
    const { values } = parseFlags(
      argv,
      {
        seed: { type: 'string' },
        detector: { type: 'string', multiple: true },
        out: { type: 'string' },
        'dev-dir': { type: 'string' },
        'dev-only': { type: 'boolean' },
      },
      usage,
    )
    const seed = values.seed === undefined ? 1 : Number(values.seed)
    if (!Number.isInteger(seed))
      throw VGL_ERR_CLI_USAGE(`--seed: expected a whole number, got "${values.seed}"`)
    for (const name of values.detector ?? [])
      if (!DETECTOR_NAMES.includes(name))
        throw VGL_ERR_CLI_USAGE(
          `--detector: unknown detector "${name}"; choose one of: ${DETECTOR_NAMES.join(', ')}`,
        )
    const devDir = values['dev-dir']
    if (values['dev-only'] === true && devDir === undefined)
      throw VGL_ERR_CLI_USAGE('--dev-only skips the generated suite and needs --dev-dir DIR to score instead')
    if (values.out !== undefined) checkOutputWritable(values.out, '--out')
    // read before the generated suite runs (tens of seconds), so a wrong --dev-dir fails at once
    const dev = devDir === undefined ? undefined : await loadDev(devDir)
    const parts: string[] = []
    if (values['dev-only'] !== true) parts.push(runDetectEval({ seed, detectors: values.detector }).markdown)
    if (dev !== undefined) parts.push(dev.report(values.detector ?? [DEFAULT_DETECTOR]))
    const markdown = parts.join('\n')
    process.stdout.write(markdown)
    if (values.out !== undefined && values.out !== '-') writeOutput(values.out, markdown, '--out')
    return 0
  },
}
