import { describe, expect, it } from 'vitest'
import { formatCsv, parseSeriesCsv } from './csv.js'

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

  it('rejects a wrong header, naming the file and line', () => {
    expect(() => parseSeriesCsv('time,val\n1,2\n', 'a.csv')).toThrow(/a\.csv:1: header must contain/)
  })

  it('rejects a non-numeric value, naming the line', () => {
    expect(() => parseSeriesCsv('timestamp,value\n1,2\n2,abc\n', 'a.csv')).toThrow(/a\.csv:3: value "abc"/)
  })
})

describe('formatCsv', () => {
  it('writes non-finite numbers as empty cells', () => {
    expect(formatCsv(['a', 'b'], [[1, NaN]])).toBe('a,b\n1,\n')
  })
})
