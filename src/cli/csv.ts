/** @module Reading `timestamp,value` CSV files and writing result CSVs, shared by `vigil detect`, `vigil forecast` and `vigil simulate autoscale`. */
import { readFileSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { VGL_ERR_CSV_INPUT } from '../errors.js'
import { writeOutput } from '../output.js'
import { inTimeOrder, regularize } from '../forecast/series.js'

export { checkOutputNotInput, checkOutputWritable, writeOutput } from '../output.js'

/** header names read as the timestamp and the value column */
const TIME_NAMES = new Set(['timestamp', 'timestamps', 'time', 'date', 'datetime', 'ts'])
const VALUE_NAMES = new Set(['value', 'values', 'val', 'y'])
const MISSING = new Set(['', 'nan', 'na', 'null', 'none', '-'])

/** Line breaks of every platform: LF, CRLF, and the lone CR of spreadsheets' "CSV (Macintosh)". */
const LINE_BREAK = /\r\n|\r|\n/

/**
 * The part of a header line an error quotes, with the fix when the columns are separated by
 * semicolons or tabs (spreadsheets in locales with a decimal comma save them so): cut to a line's
 * width, since a file whose line breaks were not read is one long line.
 */
function badHeader(line: string): string {
  const t = line.trim()
  const shown = t.length > 80 ? `${t.slice(0, 77)}…` : t
  const sep = t.includes(',') ? null : t.includes(';') ? '";"' : t.includes('\t') ? 'tabs' : null
  return `"${shown}"${sep === null ? '' : `; its columns are separated by ${sep}: save it with commas`}`
}

/** A series read from a `timestamp,value` CSV. `values[i]` is NaN where the cell was empty or `NaN`. */
export interface CsvSeries {
  /** epoch milliseconds, one per row, in file order */
  readonly timestamps: number[]
  /** each row's timestamp as written (quotes removed), so outputs can echo the input's rows */
  readonly timestampTexts: string[]
  readonly values: number[]
  /** each row's line number in the file (1-based, header and blank lines counted), for messages */
  readonly lines: number[]
}

/**
 * Parses CSV text with a `timestamp,value` header (the aliases {@link parseSeriesRows} knows are
 * accepted, extra columns ignored, RFC 4180 quotes, LF, CRLF or CR, a UTF-8 BOM skipped). Every
 * timestamp must be readable (see {@link parseTimestampText}); an empty or `NaN` value is a gap
 * (NaN). `source` names the file in error messages.
 */
export function parseSeriesCsv(text: string, source: string): CsvSeries {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const lines = text.split(LINE_BREAK)
  let i = 0
  while (i < lines.length && lines[i].trim() === '') i++
  if (i >= lines.length) throw VGL_ERR_CSV_INPUT(`${source}: empty file; expected a header "timestamp,value"`)
  const header = splitCsvLine(lines[i]).map((h) => h.toLowerCase())
  const ti = header.findIndex((h) => TIME_NAMES.has(h))
  const vi = header.findIndex((h) => VALUE_NAMES.has(h))
  if (ti < 0 || vi < 0)
    throw VGL_ERR_CSV_INPUT(
      `${source}:${i + 1}: header must contain "timestamp,value", got ${badHeader(lines[i])}`,
    )
  const timestamps: number[] = []
  const timestampTexts: string[] = []
  const values: number[] = []
  const rowLines: number[] = []
  for (let n = i + 1; n < lines.length; n++) {
    const line = lines[n]
    if (line.trim() === '') continue
    const cells = splitCsvLine(line)
    const tText = cells[ti] ?? ''
    const ts = parseTimestampText(tText)
    if (!Number.isFinite(ts))
      throw VGL_ERR_CSV_INPUT(
        `${source}:${n + 1}: timestamp "${tText}" is not readable; ${timestampFix(tText)}`,
      )
    const raw = cells[vi] ?? ''
    const v = raw === '' || raw.toLowerCase() === 'nan' ? NaN : Number(raw)
    if (Number.isNaN(v) && raw !== '' && raw.toLowerCase() !== 'nan')
      throw VGL_ERR_CSV_INPUT(`${source}:${n + 1}: value "${raw}" is not a number; fix or remove the line`)
    if (!Number.isNaN(v) && !Number.isFinite(v))
      throw VGL_ERR_CSV_INPUT(`${source}:${n + 1}: value "${raw}" is not finite; fix or remove the line`)
    timestamps.push(ts)
    timestampTexts.push(tText)
    values.push(v)
    rowLines.push(n + 1)
  }
  return { timestamps, timestampTexts, values, lines: rowLines }
}

/** Reads and parses a `timestamp,value` CSV file (see {@link parseSeriesCsv}). */
export function readSeriesCsv(path: string): CsvSeries {
  return parseSeriesCsv(readInputFile(path), path)
}

/** Reads an input file as text; a failure says why and what to do, instead of node's errno text. */
export function readInputFile(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why =
      e.code === 'ENOENT'
        ? `no such file${isAbsolute(path) ? '' : ` in ${process.cwd()}`}; check the path`
        : e.code === 'EISDIR'
          ? 'it is a directory; name the CSV file in it'
          : e.code === 'EACCES' || e.code === 'EPERM'
            ? 'permission denied; make it readable by this user'
            : e.message
    throw VGL_ERR_CSV_INPUT(`${path}: cannot read input file: ${why}`)
  }
}

/**
 * A series read by {@link readSeriesCsv} in time order (see `inTimeOrder`) and on its regular grid
 * (see `regularize`, `freqSec` overriding the inferred interval); an irregular gap is an error
 * naming `file` and the lines of the two rows as the file has them.
 */
export function regularSeries(csv: CsvSeries, file: string, freqSec?: number) {
  const series = inTimeOrder(csv.timestamps, csv.values)
  const reg = regularize(series.times, series.values, freqSec, {
    source: file,
    rowName: (k) => `line ${csv.lines[series.rows[k]]}`,
  })
  return { series, reg }
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

/** Writes rows as a CSV file, or to stdout for `-` (see {@link formatCsv} and {@link writeOutput}). */
export function writeCsv(
  path: string,
  header: readonly string[],
  rows: readonly (readonly (number | string)[])[],
): void {
  writeOutput(path, formatCsv(header, rows))
}

// ---- detailed reader for `vigil detect` ----------------------------------------------------
// Keeps the timestamp and value text as written (the output echoes them), tolerates unreadable,
// repeated and out-of-order timestamps with one warning, and recognises common header aliases.

/** One parsed series: the timestamp text as written (so output can echo it), its epoch ms, and the values. */
export interface SeriesCsv {
  /** timestamp text exactly as in the file (quotes removed) */
  readonly timestamps: string[]
  /** epoch milliseconds; NaN when the timestamp could not be read (a warning says so) */
  readonly timesMs: number[]
  /** value text exactly as in the file (quotes removed) */
  readonly valueTexts: string[]
  /** parsed values; NaN only for missing cells when `allowMissing` is set */
  readonly values: number[]
  /** human-readable problems that did not stop reading (irregular, repeated, out-of-order time) */
  readonly warnings: string[]
}

export interface ReadSeriesOptions {
  /** accept empty, `NaN`, `NA`, `null` cells as missing (NaN) instead of failing; default false */
  readonly allowMissing?: boolean
}

/** Splits one CSV line; a fast path for lines without quotes, RFC 4180 quoting otherwise. */
export function splitCsvLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',').map((f) => f.trim())
  const out: string[] = []
  let cur = ''
  let inQuotes = false
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (inQuotes) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          cur += '"'
          i++
        } else inQuotes = false
      } else cur += c
    } else if (c === '"') inQuotes = true
    else if (c === ',') {
      out.push(cur.trim())
      cur = ''
    } else cur += c
  }
  out.push(cur.trim())
  return out
}

/**
 * Parses a timestamp: ISO 8601 (`2024-01-02T03:04:05Z`, with or without zone), `YYYY-MM-DD HH:MM:SS`
 * (read as UTC), or a bare number (epoch seconds, or epoch ms when above 1e11; small integers such
 * as Yahoo's 1, 2, 3 are read as seconds). Returns NaN when unreadable.
 */
export function parseTimestampText(text: string): number {
  if (text === '') return NaN
  if (/^-?\d+(\.\d+)?$/.test(text)) {
    const n = Number(text)
    return Math.abs(n) > 1e11 ? n : n * 1000
  }
  // 01/12/2025 is the 1st of December or the 12th of January depending on who wrote it: refused
  // rather than guessed (Date.parse would read it as month first, in this machine's time zone)
  if (AMBIGUOUS_DATE.test(text)) return NaN
  let iso = text
  const m = /^(\d{4})[-/](\d{2})[-/](\d{2})[ T](\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(.*)$/.exec(text)
  if (m) {
    const zone = m[5].trim()
    iso = `${m[1]}-${m[2]}-${m[3]}T${m[4].length === 4 ? `0${m[4]}` : m[4]}${zone === '' ? 'Z' : zone}`
  } else if (/^\d{4}[-/]\d{2}[-/]\d{2}$/.test(text)) iso = `${text.replaceAll('/', '-')}T00:00:00Z`
  const t = Date.parse(iso)
  return Number.isFinite(t) ? t : NaN
}

/** a date written day and month first, in either order: 01/12/2025, 1.12.25, 12-01-2025 */
const AMBIGUOUS_DATE = /^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b/

/** The fix for an unreadable timestamp, for error messages. */
function timestampFix(text: string): string {
  return AMBIGUOUS_DATE.test(text)
    ? 'day and month order is ambiguous: write ISO 8601 (2025-12-01 00:00:00, read as UTC) or epoch seconds'
    : 'write ISO 8601 (2025-12-01T00:00:00Z, or 2025-12-01 00:00:00 read as UTC) or epoch seconds'
}

/** How {@link parseTimestampText} read one timestamp, where the text leaves it open. */
function readingOf(text: string): string | null {
  if (/^-?\d+(\.\d+)?$/.test(text))
    return Math.abs(Number(text)) > 1e11 ? 'epoch milliseconds' : 'epoch seconds'
  if (/^\d{4}[-/]\d{2}[-/]\d{2}$/.test(text)) return 'dates at midnight UTC'
  const zone = /^\d{4}[-/]\d{2}[-/]\d{2}[ T][\d:.]+(.*)$/.exec(text)?.[1].trim()
  return zone === '' ? 'times without a zone, as UTC' : null
}

/**
 * One line saying how the timestamps were read where the text leaves it open (epoch seconds or
 * milliseconds, a time without a zone as UTC), so a wrong guess shows before the results are
 * trusted; null when every timestamp carries its zone.
 *
 * @example
 * timestampReading(['1764547200', '1764547260']) // 'timestamps read as epoch seconds'
 */
export function timestampReading(texts: readonly string[]): string | null {
  const counts = new Map<string, number>()
  for (const t of texts) {
    const r = readingOf(t)
    if (r !== null) counts.set(r, (counts.get(r) ?? 0) + 1)
  }
  if (counts.size === 0) return null
  if (counts.size === 1 && [...counts.values()][0] === texts.length)
    return `timestamps read as ${[...counts.keys()][0]}`
  return `timestamps read as ${[...counts].map(([r, n]) => `${r} (${n} row${n === 1 ? '' : 's'})`).join(', ')}`
}

/**
 * Reads a `timestamp,value` CSV (header required; other columns are ignored; LF, CRLF or CR; optional
 * quotes; a UTF-8 BOM is skipped). An unreadable value fails with VGL_ERR_CSV_INPUT naming the
 * line; timestamp problems only add a warning, because real exports are messy and rows are
 * scored as given.
 *
 * @example
 * parseSeriesRows('timestamp,value\n2024-01-01 00:00:00,3\n', 'in.csv').values // [3]
 */
export function parseSeriesRows(text: string, file: string, options: ReadSeriesOptions = {}): SeriesCsv {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const lines = text.split(LINE_BREAK)
  let first = 0
  while (first < lines.length && lines[first].trim() === '') first++
  if (first === lines.length)
    throw VGL_ERR_CSV_INPUT(`${file}: the file is empty; expected a header "timestamp,value" and rows`)
  const header = splitCsvLine(lines[first]).map((h) => h.toLowerCase())
  const ti = header.findIndex((h) => TIME_NAMES.has(h))
  const vi = header.findIndex((h) => VALUE_NAMES.has(h))
  if (ti < 0 || vi < 0)
    throw VGL_ERR_CSV_INPUT(
      `${file}:${first + 1}: expected a header with columns "timestamp" and "value", got ${badHeader(lines[first])}`,
    )
  const timestamps: string[] = []
  const timesMs: number[] = []
  const valueTexts: string[] = []
  const values: number[] = []
  const warnings: string[] = []
  let badTimes = 0
  let firstBadTimeLine = 0
  let firstBadTime = ''
  let backwards = 0
  let repeated = 0
  let firstDisorderLine = 0
  let prev = NaN
  const need = Math.max(ti, vi)
  for (let i = first + 1; i < lines.length; i++) {
    const line = lines[i]
    if (line.trim() === '') continue
    const fields = splitCsvLine(line)
    if (fields.length <= need)
      throw VGL_ERR_CSV_INPUT(
        `${file}:${i + 1}: expected ${need + 1} columns (timestamp,value), got ${fields.length}: "${line.trim()}"`,
      )
    const vText = fields[vi]
    let v = Number(vText)
    if (vText === '' || !Number.isFinite(v)) {
      if (options.allowMissing === true && MISSING.has(vText.toLowerCase())) v = NaN
      else
        throw VGL_ERR_CSV_INPUT(
          `${file}:${i + 1}: value "${vText}" is not a finite number; fix or remove the line`,
        )
    }
    const tText = fields[ti]
    const t = parseTimestampText(tText)
    if (Number.isNaN(t)) {
      if (badTimes++ === 0) {
        firstBadTimeLine = i + 1
        firstBadTime = tText
      }
    } else if (!Number.isNaN(prev)) {
      if (t < prev || t === prev) {
        if (t < prev) backwards++
        else repeated++
        if (firstDisorderLine === 0) firstDisorderLine = i + 1
      }
    }
    if (!Number.isNaN(t)) prev = t
    timestamps.push(tText)
    timesMs.push(t)
    valueTexts.push(vText)
    values.push(v)
  }
  if (badTimes > 0)
    warnings.push(
      `${file}: ${badTimes} unreadable timestamp(s), first at line ${firstBadTimeLine} ("${firstBadTime}": ${timestampFix(firstBadTime)}); rows kept in file order`,
    )
  if (backwards + repeated > 0)
    warnings.push(
      `${file}: ${backwards} out-of-order and ${repeated} repeated timestamp(s), first at line ${firstDisorderLine}; rows scored in file order`,
    )
  return { timestamps, timesMs, valueTexts, values, warnings }
}

/** A compact decimal: up to 6 significant decimals, no exponent for ordinary magnitudes. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  if (Number.isInteger(n)) return String(n)
  const a = Math.abs(n)
  if (a >= 1e-4 && a < 1e15) return String(Number(n.toFixed(6)))
  return String(Number(n.toPrecision(7)))
}

/** Quotes a CSV field only when it needs it (comma, quote or line break). */
export function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}
