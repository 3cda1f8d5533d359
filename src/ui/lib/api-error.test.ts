import { describe, expect, it } from 'vitest'
import { ApiError } from './api-error.js'

describe('ApiError', () => {
  it("reads the server's problem+json: message, code, fix and each problem", () => {
    const e = new ApiError(
      400,
      {
        code: 'VGL_ERR_X',
        message: 'rank: expected a whole number',
        fix: 'send 0, 1, 2…',
        problems: ['a', 2],
      },
      'PUT /x: HTTP 400',
    )
    expect([e.message, e.code, e.fix, e.problems]).toEqual([
      'rank: expected a whole number',
      'VGL_ERR_X',
      'send 0, 1, 2…',
      ['a', '2'],
    ])
  })

  it("says why an action the server recorded as failed failed (a scale's 502 answers its record, with detail)", () => {
    const e = new ApiError(
      502,
      { id: 'a1', status: 'failed', before: 1, after: 1, detail: 'replica users-3 was not ready within 30s' },
      'POST /api/services/users/scale: HTTP 502',
    )
    expect(e.message).toBe(
      'POST /api/services/users/scale: HTTP 502: replica users-3 was not ready within 30s',
    )
    expect(e.code).toBe('HTTP_502')
  })

  it('falls back to the method, path and status without a body or with an empty detail', () => {
    expect(new ApiError(502, null, 'POST /x: HTTP 502').message).toBe('POST /x: HTTP 502')
    expect(new ApiError(502, { detail: '' }, 'POST /x: HTTP 502').message).toBe('POST /x: HTTP 502')
  })
})
