/**
 * @module Parsing helpers shared by the command line, the offline evaluations and the admin API:
 * node:util parseArgs with errors that name the flag, durations and positive numbers. A shared
 * file at the top of src/ so that no layer has to import cli/ for them.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { VGL_ERR_CLI_USAGE } from './errors.js'

type Options = NonNullable<ParseArgsConfig['options']>

/**
 * Parses flags strictly; an unknown flag, a missing value or more than `maxPositionals` arguments
 * is a VGL_ERR_CLI_USAGE error with the usage text. A value that starts with a dash and a digit (`--from -1h`, `--min -5`) is taken as
 * the flag's value: node's parseArgs would read it as a flag and refuse it.
 */
export function parseFlags<O extends Options>(argv: string[], options: O, usage: string, maxPositionals = 0) {
  const args: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const next = argv[i + 1]
    const long = a.startsWith('--') && !a.includes('=') ? options[a.slice(2)] : undefined
    if (long?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      args.push(`${a}=${next}`)
      i++
    } else args.push(a)
  }
  let parsed
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true })
  } catch (err) {
    throw VGL_ERR_CLI_USAGE(`${flagProblem(err as Error & { code?: string }, options)}\n\n${usage}`)
  }
  // an ignored argument would run the command on something else than the user named
  // (`vigil start my.yaml` reading ./vigil.yaml)
  const extra = parsed.positionals[maxPositionals]
  if (extra !== undefined) {
    // a command that already took its file (check-config FILE) is not told to pass another one
    const fix =
      options.config !== undefined && maxPositionals === 0 && /\.ya?ml$/i.test(extra)
        ? `pass the config file as --config ${extra}`
        : maxPositionals === 0
          ? 'this command takes only the flags below'
          : `this command takes ${maxPositionals === 1 ? 'one argument' : `${maxPositionals} arguments`}`
    throw VGL_ERR_CLI_USAGE(`unexpected argument "${extra}"; ${fix}\n\n${usage}`)
  }
  return parsed
}

function flagName(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`
}

/**
 * One line naming the flag and the fix, for parseArgs's errors: its own messages suggest `--` for
 * positionals, which is never what a mistyped flag needs.
 */
function flagProblem(err: Error & { code?: string }, options: Options): string {
  // a flag with a short alias is quoted as '-c, --config <value>': name it by its long form
  const quoted = /'(?:-[^-' ,]+, )?(-[^' ]+)/.exec(err.message)?.[1]
  if (quoted === undefined) return err.message
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const known = Object.keys(options).map(flagName)
    const near = known.find((k) => editDistance(k, quoted) <= 2)
    const takes = known.length === 0 ? 'it takes no options' : `it takes ${known.join(', ')}`
    return `${quoted}: unknown option${near === undefined ? '' : `; did you mean ${near}?`} (${takes})`
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = quoted.replace(/^-+/, '')
    const option = options[name] ?? Object.entries(options).find(([, o]) => o.short === name)?.[1]
    return option?.type === 'boolean'
      ? `${quoted}: takes no value; write ${quoted} alone`
      : `${quoted}: needs a value, e.g. ${quoted} VALUE`
  }
  return err.message
}

/** Levenshtein distance, for suggesting the flag a typo meant. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length]!
}

/**
 * Parses a duration such as `60s`, `5m`, `250ms`, `1h` or a bare number of seconds into
 * milliseconds. With `unitRequired` a bare number is refused: for a flag counted in minutes,
 * `5` meaning five seconds is a trap.
 */
export function parseDurationMs(text: string, flag: string, opts: { unitRequired?: boolean } = {}): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (!m) throw VGL_ERR_CLI_USAGE(`${flag}: expected a duration like 250ms, 30s, 5m or 1h, got "${text}"`)
  if (opts.unitRequired === true && m[2] === undefined)
    throw VGL_ERR_CLI_USAGE(`${flag}: give a unit, e.g. ${m[1]}m or ${m[1]}s, got "${text}"`)
  const n = Number(m[1])
  const unit = m[2] ?? 's'
  return n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000)
}

/** the longest delay setTimeout keeps (about 596 h); a longer one fires at once */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * A duration flag a command sets a timer with: at most {@link MAX_TIMER_MS} (a longer one would
 * fire at once), and above 0 when `meaning` says what it is.
 */
export function parseTimerMs(text: string, flag: string, meaning: string): number {
  const ms = parseDurationMs(text, flag)
  if (meaning !== '' && ms <= 0)
    throw VGL_ERR_CLI_USAGE(`${flag}: expected a duration > 0 (${meaning}), got "${text}"`)
  if (ms > MAX_TIMER_MS) throw VGL_ERR_CLI_USAGE(`${flag}: expected at most 596h, got "${text}"`)
  return ms
}

/** A duration for a person: `250ms`, `45s`, `5m`, `1m 30s`, `2h 5m`. */
export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const parts: string[] = []
  let rest = Math.round(ms)
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`)
      rest %= size
    }
  }
  if (rest > 0) parts.push(`${Number((rest / 1000).toFixed(3))}s`)
  return parts.join(' ')
}

/** Parses a positive number flag, naming the flag on error. */
export function parsePositive(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw VGL_ERR_CLI_USAGE(`${flag}: expected a number > 0, got "${text}"`)
  return n
}

/**
 * Parses a TCP port flag: a whole number from `min` (default 0, which picks a free port) to `max`
 * (default 65535; lower when the flag is the first of a run of ports). Checked here, at parse time,
 * because node's listen() throws a RangeError only once the command has started other things.
 */
export function parsePort(
  text: string | undefined,
  flag: string,
  fallback: number,
  range: { min?: 0 | 1; max?: number } = {},
): number {
  if (text === undefined) return fallback
  const min = range.min ?? 0
  const max = range.max ?? 65535
  const n = Number(text)
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw VGL_ERR_CLI_USAGE(
      `${flag}: expected a port ${min}..${max}${min === 0 ? ' (0 picks a free one)' : ''}, got "${text}"`,
    )
  return n
}

const TIME_UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
}
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/i

/**
 * Parses a point in time for `--from`/`--to`: ISO 8601 (`2026-12-01`, `2026-12-01T09:00Z`; without
 * a zone, local time), milliseconds since the epoch, `now`, or now minus a duration (`-90m`,
 * `-7d`). Epoch seconds are refused, not read as a time in January 1970.
 */
export function parseTimeMs(text: string | undefined, flag: string, nowMs: number): number {
  const t = text?.trim() ?? ''
  const expected = `expected ISO 8601 (2026-12-01T09:00Z), ms since the epoch, "now" or a time before now like -1h or -7d`
  if (t === '') throw VGL_ERR_CLI_USAGE(`${flag}: ${expected}, got nothing`)
  if (t === 'now') return nowMs
  const rel = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(t)
  if (rel !== null) return nowMs - Math.round(Number(rel[1]) * TIME_UNIT_MS[rel[2]])
  if (/^\d+$/.test(t)) {
    // 1e11 ms is March 1973: anything below is a time in seconds, or a typo
    if (t.length < 12)
      throw VGL_ERR_CLI_USAGE(
        `${flag}: "${t}" read as ms since the epoch is ${new Date(Number(t)).toISOString()}; for seconds since the epoch, multiply by 1000`,
      )
    return Number(t)
  }
  const ms = ISO_TIME.test(t) ? Date.parse(t) : NaN
  if (Number.isNaN(ms)) throw VGL_ERR_CLI_USAGE(`${flag}: ${expected}, got "${text}"`)
  return ms
}
