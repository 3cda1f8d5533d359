/** @module Reading `timestamp,value` CSV files and writing result CSVs, shared by `vigil detect` and `vigil forecast`. */
import { readFileSync, writeFileSync } from 'node:fs'
import { VGL_ERR_CSV_INPUT } from '../errors.js'

/** A series read from a `timestamp,value` CSV. `values[i]` is NaN where the cell was empty or `NaN`. */
export interface CsvSeries {
  /** epoch milliseconds, one per row, in file order */
  readonly timestamps: number[]
  readonly values: number[]
}

/**
 * Parses a timestamp cell: ISO-8601 text, or a number taken as epoch seconds (below 1e11) or
 * epoch milliseconds, or a plain row index when all rows are small integers.
 */
function parseTimestamp(cell: string): number {
  const t = cell.trim()
  if (t !== '' && /^-?\d+(\.\d+)?$/.test(t)) {
    const n = Number(t)
    // Epoch seconds and milliseconds overlap nowhere in practice: 1e11 s is the year 5138.
    return Math.abs(n) < 1e11 ? n * 1000 : n
  }
  return Date.parse(t)
}

/**
 * Parses CSV text with the header `timestamp,value` (extra columns are ignored; quotes are
 * stripped). `source` names the file in error messages.
 */
export function parseSeriesCsv(text: string, source: string): CsvSeries {
  const lines = text.split(/\r?\n/)
  let i = 0
  while (i < lines.length && lines[i].trim() === '') i++
  if (i >= lines.length) throw VGL_ERR_CSV_INPUT(`${source}: empty file; expected a header "timestamp,value"`)
  const header = lines[i].split(',').map((h) => h.trim().replace(/^"|"$/g, '').toLowerCase())
  const ti = header.indexOf('timestamp')
  const vi = header.indexOf('value')
  if (ti < 0 || vi < 0)
    throw VGL_ERR_CSV_INPUT(
      `${source}:${i + 1}: header must contain "timestamp,value", got "${lines[i].trim()}"`,
    )
  const timestamps: number[] = []
  const values: number[] = []
  for (let n = i + 1; n < lines.length; n++) {
    const line = lines[n]
    if (line.trim() === '') continue
    const cells = line.split(',').map((c) => c.trim().replace(/^"|"$/g, ''))
    const ts = parseTimestamp(cells[ti] ?? '')
    if (!Number.isFinite(ts))
      throw VGL_ERR_CSV_INPUT(`${source}:${n + 1}: timestamp "${cells[ti] ?? ''}" is not ISO-8601 or epoch`)
    const raw = cells[vi] ?? ''
    const v = raw === '' || raw.toLowerCase() === 'nan' ? NaN : Number(raw)
    if (Number.isNaN(v) && raw !== '' && raw.toLowerCase() !== 'nan')
      throw VGL_ERR_CSV_INPUT(`${source}:${n + 1}: value "${raw}" is not a number`)
    if (!Number.isNaN(v) && !Number.isFinite(v))
      throw VGL_ERR_CSV_INPUT(`${source}:${n + 1}: value "${raw}" is not finite`)
    timestamps.push(ts)
    values.push(v)
  }
  return { timestamps, values }
}

/** Reads and parses a `timestamp,value` CSV file (see {@link parseSeriesCsv}). */
export function readSeriesCsv(path: string): CsvSeries {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw VGL_ERR_CSV_INPUT(`${path}: cannot read input file: ${(err as Error).message}`)
  }
  return parseSeriesCsv(text, path)
}

/** Formats rows as CSV text; numbers print in shortest round-trip form, non-finite as empty cells. */
export function formatCsv(
  header: readonly string[],
  rows: readonly (readonly (number | string)[])[],
): string {
  const out: string[] = [header.join(',')]
  for (const row of rows) {
    out.push(row.map((c) => (typeof c === 'number' ? (Number.isFinite(c) ? String(c) : '') : c)).join(','))
  }
  return out.join('\n') + '\n'
}

/** Writes rows as a CSV file (see {@link formatCsv}). */
export function writeCsv(
  path: string,
  header: readonly string[],
  rows: readonly (readonly (number | string)[])[],
): void {
  writeFileSync(path, formatCsv(header, rows))
}
