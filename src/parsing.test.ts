import { describe, expect, it } from 'vitest'
import { formatDurationMs, parseDurationMs, parseFlags, parsePort, parseTimeMs } from './parsing.js'

const NOW = Date.parse('2026-12-04T10:00:00Z')

describe('parseTimeMs', () => {
  it('reads ISO 8601, epoch ms, now and times before now', () => {
    expect(parseTimeMs('2026-12-01T09:00:00Z', '--from', NOW)).toBe(Date.parse('2026-12-01T09:00:00Z'))
    expect(parseTimeMs('2026-12-01T09:00Z', '--from', NOW)).toBe(Date.parse('2026-12-01T09:00:00Z'))
    expect(parseTimeMs('2026-12-01T10:00:00.250+01:00', '--from', NOW)).toBe(
      Date.parse('2026-12-01T09:00:00.250Z'),
    )
    expect(parseTimeMs('2026-12-01', '--from', NOW)).toBe(Date.parse('2026-12-01T00:00:00Z'))
    expect(parseTimeMs(' 1796376161000 ', '--to', NOW)).toBe(1796376161000)
    expect(parseTimeMs('now', '--to', NOW)).toBe(NOW)
    expect(parseTimeMs('-1h', '--from', NOW)).toBe(NOW - 3_600_000)
    expect(parseTimeMs('-90m', '--from', NOW)).toBe(NOW - 90 * 60_000)
    expect(parseTimeMs('-7d', '--from', NOW)).toBe(NOW - 7 * 86_400_000)
    expect(parseTimeMs('-1.5s', '--from', NOW)).toBe(NOW - 1500)
    expect(parseTimeMs('-250ms', '--from', NOW)).toBe(NOW - 250)
  })

  it('names the flag and says what it takes', () => {
    const bad =
      (text: string | undefined, flag = '--from') =>
      () =>
        parseTimeMs(text, flag, NOW)
    for (const text of ['yesterday', '1h', '+1h', '-1w', '2026-13', '2026-12-01T25:00Z', 'Dec 1 2026'])
      expect(bad(text), text).toThrow(
        `--from: expected ISO 8601 (2026-12-01T09:00Z), ms since the epoch, "now" or a time before now like -1h or -7d, got "${text}"`,
      )
    expect(bad(undefined, '--to')).toThrow(/^--to: expected ISO 8601 .* got nothing$/)
    expect(bad('  ', '--to')).toThrow(/--to: .* got nothing/)
    // epoch seconds would silently be January 1970
    expect(bad('1796376161', '--to')).toThrow(
      '--to: "1796376161" read as ms since the epoch is 1970-01-21T18:59:36.161Z; for seconds since the epoch, multiply by 1000',
    )
  })
})

describe('parseFlags', () => {
  const options = { from: { type: 'string' }, json: { type: 'boolean' } } as const

  it('takes a value starting with a dash and a digit as the value of its flag', () => {
    expect(parseFlags(['--from', '-1h', '--json'], options, 'usage').values).toEqual({
      from: '-1h',
      json: true,
    })
    expect(parseFlags(['--from=-7d'], options, 'usage').values).toEqual({ from: '-7d' })
  })

  it('still refuses a flag where a value belongs, naming it', () => {
    expect(() => parseFlags(['--from', '--json'], options, 'usage')).toThrow(/--from/)
    expect(() => parseFlags(['--nope'], options, 'usage')).toThrow(
      /^--nope: unknown option \(it takes --from, --json\)\n\nusage$/,
    )
  })

  it('refuses an argument it would otherwise ignore, saying what to write instead', () => {
    const withConfig = { config: { type: 'string' } } as const
    expect(() => parseFlags(['my.yaml'], withConfig, 'usage')).toThrow(
      /^unexpected argument "my\.yaml"; pass the config file as --config my\.yaml\n\nusage$/,
    )
    expect(() => parseFlags(['--json', '10m'], options, 'usage')).toThrow(
      /^unexpected argument "10m"; this command takes only the flags below\n/,
    )
    expect(parseFlags(['a.yaml'], {}, 'usage', 1).positionals).toEqual(['a.yaml'])
    expect(() => parseFlags(['a.yaml', 'b.yaml'], {}, 'usage', 1)).toThrow(
      /^unexpected argument "b\.yaml"; this command takes one argument\n/,
    )
    // check-config a.yaml b.yaml: one file per run, not "pass b.yaml as --config"
    expect(() => parseFlags(['a.yaml', 'b.yaml'], withConfig, 'usage', 1)).toThrow(
      /^unexpected argument "b\.yaml"; this command takes one argument\n/,
    )
  })

  it('names the flag and the fix in one line: a typo, a missing value, a value for a switch', () => {
    expect(() => parseFlags(['--form', '1h'], options, 'usage')).toThrow(
      /^--form: unknown option; did you mean --from\? \(it takes --from, --json\)\n/,
    )
    expect(() => parseFlags(['--from'], options, 'usage')).toThrow(
      /^--from: needs a value, e\.g\. --from VALUE\n/,
    )
    expect(() => parseFlags(['--json=yes'], options, 'usage')).toThrow(
      /^--json: takes no value; write --json alone\n/,
    )
  })

  it('names a flag that has a short alias by its long form, whichever form was written', () => {
    const aliased = {
      config: { type: 'string', short: 'c' },
      quiet: { type: 'boolean', short: 'q' },
    } as const
    for (const argv of [['--config'], ['-c']])
      expect(() => parseFlags(argv, aliased, 'usage')).toThrow(
        /^--config: needs a value, e\.g\. --config VALUE\n/,
      )
    expect(() => parseFlags(['--quiet=1'], aliased, 'usage')).toThrow(
      /^--quiet: takes no value; write --quiet alone\n/,
    )
  })
})

describe('parsePort', () => {
  it('reads a whole number in range, and the fallback when the flag is absent', () => {
    expect(parsePort(undefined, '--port', 8080)).toBe(8080)
    expect(parsePort('0', '--port', 8080)).toBe(0)
    expect(parsePort('65535', '--port', 8080)).toBe(65535)
    expect(parsePort('9001', '--base', 1, { max: 65529 })).toBe(9001)
  })

  it('refuses anything else, naming the flag, the range and the value', () => {
    for (const bad of ['99999', '65536', '-1', '80.5', 'http', '', ' '])
      expect(() => parsePort(bad, '--admin-port', 8081)).toThrow(
        `--admin-port: expected a port 0..65535 (0 picks a free one), got "${bad}"`,
      )
    expect(() => parsePort('65530', '--base', 1, { max: 65529 })).toThrow(/0\.\.65529/)
    expect(() => parsePort('0', '--port', 1, { min: 1 })).toThrow('--port: expected a port 1..65535, got "0"')
  })
})

describe('durations', () => {
  it('reads a bare number as seconds unless a unit is required', () => {
    expect(parseDurationMs('5', '--every')).toBe(5_000)
    expect(parseDurationMs('5m', '--stabilization', { unitRequired: true })).toBe(300_000)
    expect(() => parseDurationMs('5', '--stabilization', { unitRequired: true })).toThrow(
      '--stabilization: give a unit, e.g. 5m or 5s, got "5"',
    )
  })

  it('prints one for a person', () => {
    expect(
      [250, 5_000, 1_500, 300_000, 90_000, 5_400_000, 7_200_000, 3_605_000].map((ms) => formatDurationMs(ms)),
    ).toEqual(['250ms', '5s', '1.5s', '5m', '1m 30s', '1h 30m', '2h', '1h 5s'])
  })
})
