import { describe, expect, it } from 'vitest'
import { headerText } from './header-text.js'

/** A header as undici hands it over: a slice of a larger buffer. */
const slice = (text: string): Buffer => {
  const whole = Buffer.from(`xx${text}yy`, 'latin1')
  return whole.subarray(2, 2 + Buffer.byteLength(text, 'latin1'))
}

describe('headerText', () => {
  it('decodes as latin1, on first sight and again from the cache', () => {
    for (const text of [
      'Content-Type',
      'application/json',
      '52',
      'timeout=5',
      'é\u00ff\u0080 x',
      '',
      'a'.repeat(64),
      'b'.repeat(65),
    ]) {
      expect(headerText(slice(text))).toBe(text)
      expect(headerText(slice(text))).toBe(text)
    }
  })

  it('never returns a cached string for different bytes of the same length and slot', () => {
    // same length, same first + last byte: the same slot, told apart by the middle bytes
    const pairs = [
      ['date', 'dxxe'],
      ['Thu, 05 Dec 2026 00:01:02 GMT', 'Thu, 05 Dec 2026 00:01:03 GMT'],
      ['abcz', 'zbca'],
    ]
    for (const [a, b] of pairs) {
      for (let i = 0; i < 3; i++) {
        expect(headerText(slice(a))).toBe(a)
        expect(headerText(slice(b))).toBe(b)
      }
    }
  })

  it('tells a string from its prefix and from a case variant', () => {
    expect(headerText(slice('keep-alive'))).toBe('keep-alive')
    expect(headerText(slice('Keep-Alive'))).toBe('Keep-Alive')
    expect(headerText(slice('keep-alive'))).toBe('keep-alive')
    expect(headerText(slice('keep-alivf'))).toBe('keep-alivf')
  })
})
