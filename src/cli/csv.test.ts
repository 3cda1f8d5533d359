import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  checkOutputWritable,
  formatCsv,
  formatNumber,
  parseSeriesCsv,
  parseSeriesRows,
  parseTimestampText,
  regularSeries,
  timestampReading,
  writeOutput,
} from './csv.js'

describe('parseSeriesCsv', () => {
  it('reads ISO and epoch-second timestamps and empty values as NaN', () => {
    const s = parseSeriesCsv(
      'timestamp,value\n2026-01-01T00:00:00Z,1.5\n1767225660,\n1767225720,3\n',
      'x.csv',
    )
    expect(s.timestamps).toEqual([1767225600000, 1767225660000, 1767225720000])
    expect(s.values[0]).toBe(1.5)
    expect(Number.isNaN(s.values[1])).toBe(true)
    expect(s.values[2]).toBe(3)
  })

  it('reads space-separated times as UTC, keeps each timestamp as written, and knows header aliases, quotes, CRLF and a BOM', () => {
    const s = parseSeriesCsv(
      '\ufeffTime,requests,Value\r\n"2014-02-14 14:30:00",x,1\r\n2014-02-14 14:35:00,"y,z",2\r\n',
      'nab.csv',
    )
    expect(s.timestamps).toEqual([Date.UTC(2014, 1, 14, 14, 30), Date.UTC(2014, 1, 14, 14, 35)])
    expect(s.timestampTexts).toEqual(['2014-02-14 14:30:00', '2014-02-14 14:35:00'])
    expect(s.values).toEqual([1, 2])
  })

  it('rejects a wrong header, naming the file and line', () => {
    expect(() => parseSeriesCsv('when,val\n1,2\n', 'a.csv')).toThrow(/a\.csv:1: header must contain/)
  })

  it('rejects an unreadable timestamp, naming the line', () => {
    expect(() => parseSeriesCsv('timestamp,value\n1,2\nyesterday,3\n', 'a.csv')).toThrow(
      /^a\.csv:3: timestamp "yesterday" is not readable; write ISO 8601 \(2025-12-01T00:00:00Z, or 2025-12-01 00:00:00 read as UTC\) or epoch seconds$/,
    )
  })

  it('refuses a date whose day and month order is ambiguous instead of guessing month first', () => {
    // read month first, 01/12 was the 12th of January: the schedule would have been a month off
    expect(() =>
      parseSeriesCsv('timestamp,value\n01/12/2025 00:00,1\n01/12/2025 00:01,2\n', 'eu.csv'),
    ).toThrow(
      /^eu\.csv:2: timestamp "01\/12\/2025 00:00" is not readable; day and month order is ambiguous: write ISO 8601 \(2025-12-01 00:00:00, read as UTC\) or epoch seconds$/,
    )
    expect(parseTimestampText('12/01/2025')).toBeNaN()
    expect(parseTimestampText('1.12.25 10:00')).toBeNaN()
  })

  it('reads year-first dates with slashes as ISO, in UTC', () => {
    expect(parseTimestampText('2025/12/01 00:01:00')).toBe(Date.UTC(2025, 11, 1, 0, 1))
    expect(parseTimestampText('2025/12/01')).toBe(Date.UTC(2025, 11, 1))
  })

  it('rejects a non-numeric value, naming the line', () => {
    expect(() => parseSeriesCsv('timestamp,value\n1,2\n2,abc\n', 'a.csv')).toThrow(/a\.csv:3: value "abc"/)
  })

  it('reads the lone CR line endings of a "CSV (Macintosh)" export', () => {
    const s = parseSeriesCsv('timestamp,value\r60,1\r120,2\r\r', 'mac.csv')
    expect(s.timestamps).toEqual([60_000, 120_000])
    expect(s.values).toEqual([1, 2])
    expect(s.lines).toEqual([2, 3])
  })

  it('names a semicolon or tab separator and its fix, and quotes a long header line cut short', () => {
    expect(() => parseSeriesCsv('timestamp;value\n60;1\n', 'de.csv')).toThrow(
      /^de\.csv:1: header must contain "timestamp,value", got "timestamp;value"; its columns are separated by ";": save it with commas$/,
    )
    expect(() => parseSeriesCsv('timestamp\tvalue\n60\t1\n', 'tab.csv')).toThrow(
      /separated by tabs: save it with commas$/,
    )
    const long = `when,${'x'.repeat(500)}\n`
    expect(() => parseSeriesCsv(long, 'w.csv')).toThrow(
      /^w\.csv:1: header must contain "timestamp,value", got "when,x{72}…"$/,
    )
  })

  it("keeps each row's line in the file, blank lines and the header counted", () => {
    const s = parseSeriesCsv('\ntimestamp,value\n60,1\n\n120,\r\n180,3\n', 'a.csv')
    expect(s.lines).toEqual([3, 5, 6])
  })
})

describe('regularSeries', () => {
  const t = (min: number) => `2026-01-01T00:${String(min).padStart(2, '0')}:00Z`

  it('names the file and the file lines of an irregular gap, also when rows are out of order', () => {
    // in time order the rows are lines 2, 3, 5, 6, 4, 7: the 30 s gap is from line 6 to line 4
    const rows = [t(0), t(1), '2026-01-01T00:03:30Z', t(2), t(3), t(4)]
    const csv = parseSeriesCsv(`timestamp,value\n${rows.map((r) => `${r},1`).join('\n')}\n`, 'demand.csv')
    expect(() => regularSeries(csv, 'demand.csv')).toThrow(
      /^demand\.csv: timestamps are irregular: the gap from line 6 to line 4 is 30s, not a multiple of the 60s interval/,
    )
  })

  it('puts a regular series on its grid in time order', () => {
    const csv = parseSeriesCsv(`timestamp,value\n${t(3)},3\n${t(0)},1\n${t(4)},4\n${t(5)},5\n`, 'a.csv')
    const { series, reg } = regularSeries(csv, 'a.csv')
    expect(series.outOfOrder).toBe(1)
    expect(reg.freqSec).toBe(60)
    expect(reg.values.map((v) => (Number.isNaN(v) ? null : v))).toEqual([1, null, null, 3, 4, 5])
  })
})

describe('output files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-csv-out-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('accepts stdout, a new file in an existing directory and an existing file, without touching it', () => {
    expect(() => checkOutputWritable('-')).not.toThrow()
    expect(() => checkOutputWritable(join(dir, 'new.csv'))).not.toThrow()
    expect(() => readFileSync(join(dir, 'new.csv'))).toThrow(/ENOENT/)
    writeFileSync(join(dir, 'old.csv'), 'kept\n')
    expect(() => checkOutputWritable(join(dir, 'old.csv'))).not.toThrow()
    expect(readFileSync(join(dir, 'old.csv'), 'utf8')).toBe('kept\n')
  })

  it('refuses a missing directory, a directory and a file used as a directory, naming the flag, path and reason', () => {
    const missing = join(dir, 'nope', 'o.csv')
    expect(() => checkOutputWritable(missing)).toThrow(
      `--output ${missing}: cannot write the file: directory ${join(dir, 'nope')} does not exist; choose another path`,
    )
    mkdirSync(join(dir, 'sub'))
    expect(() => checkOutputWritable(join(dir, 'sub'), '--out')).toThrow(
      `--out ${join(dir, 'sub')}: cannot write the file: it is a directory`,
    )
    writeFileSync(join(dir, 'file'), '')
    expect(() => checkOutputWritable(join(dir, 'file', 'o.csv'))).toThrow(
      `cannot write the file: ${join(dir, 'file')} is not a directory`,
    )
    try {
      checkOutputWritable(missing)
    } catch (err) {
      expect((err as { code: string }).code).toBe('VGL_ERR_CLI_OUTPUT')
    }
  })

  it('turns a failed write into an error naming the flag, the path and the OS reason', () => {
    const missing = join(dir, 'nope', 'o.csv')
    expect(() => writeOutput(missing, 'x\n')).toThrow(
      `--output ${missing}: cannot write the file: ENOENT: no such file or directory`,
    )
    writeOutput(join(dir, 'w.csv'), 'a,b\n')
    expect(readFileSync(join(dir, 'w.csv'), 'utf8')).toBe('a,b\n')
  })
})

describe('formatCsv', () => {
  it('writes non-finite numbers as empty cells', () => {
    expect(formatCsv(['a', 'b'], [[1, NaN]])).toBe('a,b\n1,\n')
  })
})

describe('parseSeriesRows', () => {
  it('reads ISO and space-separated timestamps, CRLF and quotes', () => {
    const s = parseSeriesRows(
      'timestamp,value\r\n"2024-01-01 00:00:00","1.5"\r\n2024-01-01T00:05:00Z,2\r\n',
      'a.csv',
    )
    expect(s.values).toEqual([1.5, 2])
    expect(s.timestamps).toEqual(['2024-01-01 00:00:00', '2024-01-01T00:05:00Z'])
    expect(s.timesMs[1] - s.timesMs[0]).toBe(300_000)
    expect(s.warnings).toEqual([])
  })

  it('names the line of an unreadable value', () => {
    expect(() => parseSeriesRows('timestamp,value\n2024-01-01,1\n2024-01-02,abc\n', 'b.csv')).toThrow(
      /b\.csv:3: value "abc"/,
    )
  })

  it('treats missing cells as NaN only when allowed', () => {
    expect(() => parseSeriesRows('timestamp,value\n2024-01-01,\n', 'c.csv')).toThrow(/c\.csv:2/)
    expect(
      parseSeriesRows('timestamp,value\n2024-01-01,NaN\n', 'c.csv', { allowMissing: true }).values[0],
    ).toBeNaN()
  })

  it('warns about unreadable timestamps once, quoting the first and its fix', () => {
    const s = parseSeriesRows('timestamp,value\n01/12/2025,1\n02/12/2025,2\n', 'u.csv')
    expect(s.values).toEqual([1, 2])
    expect(s.warnings).toEqual([
      'u.csv: 2 unreadable timestamp(s), first at line 2 ("01/12/2025": day and month order is ambiguous: write ISO 8601 (2025-12-01 00:00:00, read as UTC) or epoch seconds); rows kept in file order',
    ])
  })

  it('warns once about out-of-order and repeated timestamps but keeps every row in order', () => {
    const s = parseSeriesRows('timestamp,value\n2024-01-02,1\n2024-01-01,2\n2024-01-01,3\n', 'd.csv')
    expect(s.values).toEqual([1, 2, 3])
    expect(s.warnings).toHaveLength(1)
    expect(s.warnings[0]).toMatch(/1 out-of-order and 1 repeated/)
  })

  it('rejects a file without the header', () => {
    expect(() => parseSeriesRows('a,b\n1,2\n', 'e.csv')).toThrow(/timestamp.*value/)
  })

  it('reads lone CR line endings, and names a semicolon separator with its fix', () => {
    expect(parseSeriesRows('timestamp,value\r60,1\r120,2\r', 'mac.csv').values).toEqual([1, 2])
    expect(() => parseSeriesRows('timestamp;value\r60;1\r', 'de.csv')).toThrow(
      /^de\.csv:1: expected a header with columns "timestamp" and "value", got "timestamp;value"; its columns are separated by ";": save it with commas$/,
    )
  })

  it('ignores extra columns such as labels', () => {
    expect(parseSeriesRows('timestamp,value,is_anomaly\n1,5,0\n', 'f.csv').values).toEqual([5])
  })
})

describe('timestampReading', () => {
  it('says how timestamps were read where the text leaves it open, in one line', () => {
    expect(timestampReading(['1764547200', '1764547260'])).toBe('timestamps read as epoch seconds')
    expect(timestampReading(['1764547200000'])).toBe('timestamps read as epoch milliseconds')
    expect(timestampReading(['2025-12-01T00:00:00', '2025-12-01 00:01:00'])).toBe(
      'timestamps read as times without a zone, as UTC',
    )
    expect(timestampReading(['2025-12-01', '2025-12-02'])).toBe('timestamps read as dates at midnight UTC')
    expect(timestampReading(['1764547200', '1764547260000', '1764547320000'])).toBe(
      'timestamps read as epoch seconds (1 row), epoch milliseconds (2 rows)',
    )
  })

  it('says nothing when every timestamp carries its zone', () => {
    expect(
      timestampReading(['2025-12-01T00:00:00Z', '2025-12-01T01:01:00+01:00', '2025-12-01T00:02:00.000Z']),
    ).toBeNull()
  })
})

describe('parseTimestampText and formatCsv', () => {
  it('reads epoch seconds and milliseconds', () => {
    expect(parseTimestampText('1700000000')).toBe(1_700_000_000_000)
    expect(parseTimestampText('1700000000000')).toBe(1_700_000_000_000)
    expect(parseTimestampText('not a time')).toBeNaN()
  })
  it('writes compact numbers', () => {
    expect(formatNumber(0.1234567891)).toBe('0.123457')
    expect(formatNumber(3)).toBe('3')
  })
})
