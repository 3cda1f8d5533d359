/**
 * @module Parsing helpers shared by the command line, the offline evaluations and the admin API:
 * node:util parseArgs with errors that name the flag, durations and positive numbers. A shared
 * file at the top of src/ so that no layer has to import cli/ for them.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { VGL_ERR_CLI_USAGE } from './errors.js'

type Options = NonNullable<ParseArgsConfig['options']>

/** Parses flags strictly; an unknown flag or a missing value is a VGL_ERR_CLI_USAGE error with the usage text. */
export function parseFlags<O extends Options>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true })
  } catch (err) {
    throw VGL_ERR_CLI_USAGE(`${(err as Error).message}\n\n${usage}`)
  }
}

/** Parses a duration such as `60s`, `5m`, `250ms`, `1h` or a bare number of seconds into milliseconds. */
export function parseDurationMs(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim())
  if (!m) throw VGL_ERR_CLI_USAGE(`${flag}: expected a duration like 250ms, 30s, 5m or 1h, got "${text}"`)
  const n = Number(m[1])
  const unit = m[2] ?? 's'
  return n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000)
}

/** Parses a positive number flag, naming the flag on error. */
export function parsePositive(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isFinite(n) || n <= 0) throw VGL_ERR_CLI_USAGE(`${flag}: expected a number > 0, got "${text}"`)
  return n
}
