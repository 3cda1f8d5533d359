/**
 * @module Decoding an upstream's response header names and values (undici hands them over as
 * latin1 `Buffer`s) without a native call and a new string for each one. An upstream sends the same
 * few names and mostly the same values on every response (`content-type: application/json`,
 * `keep-alive: timeout=5`, a `date` that changes once a second), so the last string decoded for a
 * slot is kept and returned again when the bytes match it exactly. `Buffer#toString` costs a call
 * into C++ and an allocation per header; a byte comparison in JavaScript is cheaper for the short
 * strings headers are.
 */

/** Longer strings are decoded every time: they are rarely repeated and the comparison grows. */
const MAX_CACHED = 64
/** Slot = (length << 6) | (first byte + last byte) & 63: a string only ever meets those of its length. */
const recent: (string | undefined)[] = new Array<string | undefined>((MAX_CACHED + 1) << 6).fill(undefined)

/** The latin1 text of `b`, the same string as `b.toString('latin1')`. */
export function headerText(b: Buffer): string {
  const n = b.length
  if (n === 0 || n > MAX_CACHED) return b.toString('latin1')
  const slot = (n << 6) | ((b[0] + b[n - 1]) & 63)
  const last = recent[slot]
  if (last !== undefined) {
    let i = 0
    while (i < n && last.charCodeAt(i) === b[i]) i++
    if (i === n) return last
  }
  const text = b.toString('latin1')
  recent[slot] = text
  return text
}
