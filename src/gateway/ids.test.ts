import { describe, expect, it } from 'vitest'
import { parseTraceParent, randomId128, randomId64 } from './ids.js'

describe('ids', () => {
  it('makes hex ids of the W3C sizes, different each time', () => {
    const a = randomId128()
    expect(a).toMatch(/^[0-9a-f]{32}$/)
    expect(randomId64()).toMatch(/^[0-9a-f]{16}$/)
    const many = new Set(Array.from({ length: 2000 }, () => randomId64()))
    expect(many.size).toBe(2000)
  })

  it('parses a valid traceparent', () => {
    expect(parseTraceParent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).toEqual({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      parentSpanId: 'b7ad6b7169203331',
      flags: '01',
    })
  })

  it('rejects malformed, version ff and all-zero traceparents', () => {
    expect(parseTraceParent(undefined)).toBeNull()
    expect(parseTraceParent('garbage')).toBeNull()
    expect(parseTraceParent('ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).toBeNull()
    expect(parseTraceParent('00-00000000000000000000000000000000-b7ad6b7169203331-01')).toBeNull()
    expect(parseTraceParent('00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01')).toBeNull()
    expect(parseTraceParent('00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01')).toBeNull()
  })
})
