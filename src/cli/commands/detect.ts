/** @module `vigil detect`: score a `timestamp,value` CSV online and write `timestamp,value,anomaly_score`. */
import { DEFAULT_DETECTOR, DETECTOR_NAMES, scoreSeries } from '../../detect/index.js'
import { VGL_ERR_CLI_USAGE, VGL_ERR_CSV_INPUT } from '../../errors.js'
import { parseFlags } from '../args.js'
import type { Command } from '../command.js'
import {
  checkOutputNotInput,
  checkOutputWritable,
  csvField,
  formatNumber,
  parseSeriesRows,
  readInputFile,
  writeOutput,
} from '../csv.js'

const usage = `usage: vigil detect --input s.csv --output o.csv [--detector NAME] [--seed N]

Reads a CSV with header timestamp,value (ISO 8601, "YYYY-MM-DD HH:MM:SS" or epoch seconds/ms;
LF, CRLF or CR; optional quotes; extra columns ignored) and writes timestamp,value,anomaly_score,
one row per input row in the same order. Scores are in [0,1], computed strictly online: a row's
score depends only on it and the rows before it. The first ~100 rows are warm-up and score 0 (a
file that is all warm-up says so).

Default detector (novelty): score = log10(1/p)/6, clipped to [0,1], where p is how rare the row's
recent context (its last 4 values; the means of the last 4 blocks of 4 rows; of 16 rows) is: its
distance to the nearest context remembered at that scale, ranked among that scale's last 2,500
such distances, smallest over the 3 scales, times 3. About 0.47 = farther than all of them; 0.9 =
far beyond (p ≈ 4e-6). Onset only: within 69 rows of a row with p <= 0.01, a score that does not
exceed that incident's peak by half is multiplied by 0.25, so one incident scores high once.

Repeated, out-of-order or unreadable timestamps are scored in file order with one warning on
stderr. Empty or NaN values score 0 and are not learned. A value that is not a number is an error
naming the line. --output - writes to stdout.

detectors: ${DETECTOR_NAMES.join(', ')} (default: ${DEFAULT_DETECTOR})`

/** Below this many values, a file whose every score is 0 is reported as warm-up. */
const WARMUP_HINT_ROWS = 250

export const command: Command = {
  summary: 'score a timestamp,value CSV for anomalies (online, scores in [0,1])',
  usage,
  async run(argv) {
    const { values: flags } = parseFlags(
      argv,
      {
        input: { type: 'string', short: 'i' },
        output: { type: 'string', short: 'o' },
        detector: { type: 'string', short: 'd' },
        seed: { type: 'string' },
      },
      usage,
    )
    if (flags.input === undefined) throw VGL_ERR_CLI_USAGE(`detect: --input is required\n\n${usage}`)
    if (flags.output === undefined) throw VGL_ERR_CLI_USAGE(`detect: --output is required\n\n${usage}`)
    const seed = flags.seed === undefined ? 42 : Number(flags.seed)
    if (!Number.isInteger(seed))
      throw VGL_ERR_CLI_USAGE(`detect: --seed must be an integer, got "${flags.seed}"`)
    if (flags.detector !== undefined && !DETECTOR_NAMES.includes(flags.detector))
      throw VGL_ERR_CLI_USAGE(
        `--detector: unknown detector "${flags.detector}"; choose one of: ${DETECTOR_NAMES.join(', ')}`,
      )
    checkOutputWritable(flags.output)
    checkOutputNotInput(flags.output, flags.input)
    const series = parseSeriesRows(readInputFile(flags.input), flags.input, { allowMissing: true })
    // a header alone would give a header alone, which reads like a run that found nothing
    if (series.values.length === 0)
      throw VGL_ERR_CSV_INPUT(`${flags.input}: no rows after the header; add timestamp,value rows to score`)
    for (const w of series.warnings) process.stderr.write(`vigil detect: warning: ${w}\n`)
    const scores = scoreSeries(series.values, series.timesMs, { detector: flags.detector, seed })
    // a file of all warm-up gives a column of zeros that reads like "nothing unusual"
    const learned = series.values.filter(Number.isFinite).length
    if (learned < WARMUP_HINT_ROWS && scores.every((s) => s === 0))
      process.stderr.write(
        `vigil detect: warning: ${flags.input}: every score is 0 because its ${learned} row(s) with a value are all warm-up (scoring starts after about 100 rows); give it a longer history\n`,
      )
    const out: string[] = ['timestamp,value,anomaly_score']
    for (let i = 0; i < scores.length; i++)
      out.push(
        `${csvField(series.timestamps[i])},${csvField(series.valueTexts[i])},${formatNumber(scores[i])}`,
      )
    writeOutput(flags.output, `${out.join('\n')}\n`)
    return 0
  },
}
