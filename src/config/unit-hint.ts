/**
 * @module Units are in the key names (`totalTimeoutMs`, `bodyLimitBytes`), so a value written with
 * a unit of its own (`"30 s"`, `10MB`) is refused as "not a number". This reads such a value and
 * says which number the key wants instead, so the fix is in the message.
 */

const MS_PER: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?)$/i

const BYTES_PER: Record<string, [number, string]> = {
  b: [1, 'bytes'],
  k: [1024, 'KiB'],
  m: [1024 ** 2, 'MiB'],
  g: [1024 ** 3, 'GiB'],
}
const SIZE = /^(\d+(?:\.\d+)?)\s*(b|bytes?|[kmg]i?b?)$/i

/** "expected … got …; write …" for a string value of a `…Ms` or `…Bytes` key; undefined: no idea. */
export function unitHint(key: PropertyKey | undefined, input: unknown): string | undefined {
  if (typeof key !== 'string' || typeof input !== 'string') return undefined
  const got = JSON.stringify(input)
  if (key.endsWith('Ms')) {
    const m = DURATION.exec(input.trim())
    if (m === null) return undefined
    const unit = m[2].toLowerCase()
    const ms = Number(m[1]) * (MS_PER[unit === 'ms' ? 'ms' : unit[0]] ?? 1)
    return `expected a number of milliseconds (the key ends in Ms), got ${got}; write ${Math.round(ms)}`
  }
  if (key.endsWith('Bytes')) {
    const m = SIZE.exec(input.trim())
    if (m === null) return undefined
    const [per, name] = BYTES_PER[m[2][0].toLowerCase()] ?? [1, 'bytes']
    const bytes = Math.round(Number(m[1]) * per)
    const shown = per === 1 ? '' : ` (${m[1]} ${name})`
    return `expected a number of bytes (the key ends in Bytes), got ${got}; write ${bytes}${shown}`
  }
  return undefined
}
