import { describe, expect, it } from 'vitest'
import { formatCsv, parseTimestampMs, readSeriesCsv } from './csv.js'

describe('readSeriesCsv', () => {
  it('reads ISO and space-separated timestamps, CRLF and quotes', () => {
    const s = readSeriesCsv(
      'timestamp,value\r\n"2024-01-01 00:00:00","1.5"\r\n2024-01-01T00:05:00Z,2\r\n',
      'a.csv',
    )
    expect(s.values).toEqual([1.5, 2])
    expect(s.timestamps).toEqual(['2024-01-01 00:00:00', '2024-01-01T00:05:00Z'])
    expect(s.timesMs[1] - s.timesMs[0]).toBe(300_000)
    expect(s.warnings).toEqual([])
  })

  it('names the line of an unreadable value', () => {
    expect(() => readSeriesCsv('timestamp,value\n2024-01-01,1\n2024-01-02,abc\n', 'b.csv')).toThrow(
      /b\.csv:3: value "abc"/,
    )
  })

  it('treats missing cells as NaN only when allowed', () => {
    expect(() => readSeriesCsv('timestamp,value\n2024-01-01,\n', 'c.csv')).toThrow(/c\.csv:2/)
    expect(
      readSeriesCsv('timestamp,value\n2024-01-01,NaN\n', 'c.csv', { allowMissing: true }).values[0],
    ).toBeNaN()
  })

  it('warns once about out-of-order and repeated timestamps but keeps every row in order', () => {
    const s = readSeriesCsv('timestamp,value\n2024-01-02,1\n2024-01-01,2\n2024-01-01,3\n', 'd.csv')
    expect(s.values).toEqual([1, 2, 3])
    expect(s.warnings).toHaveLength(1)
    expect(s.warnings[0]).toMatch(/1 out-of-order and 1 repeated/)
  })

  it('rejects a file without the header', () => {
    expect(() => readSeriesCsv('a,b\n1,2\n', 'e.csv')).toThrow(/timestamp.*value/)
  })

  it('ignores extra columns such as labels', () => {
    expect(readSeriesCsv('timestamp,value,is_anomaly\n1,5,0\n', 'f.csv').values).toEqual([5])
  })
})

describe('parseTimestampMs and formatCsv', () => {
  it('reads epoch seconds and milliseconds', () => {
    expect(parseTimestampMs('1700000000')).toBe(1_700_000_000_000)
    expect(parseTimestampMs('1700000000000')).toBe(1_700_000_000_000)
    expect(parseTimestampMs('not a time')).toBeNaN()
  })
  it('writes compact numbers and quotes fields that need it', () => {
    expect(formatCsv(['a', 'b'], [['x,y', 0.1234567891]])).toBe('a,b\n"x,y",0.123457\n')
  })
})
