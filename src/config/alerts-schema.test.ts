/** @module Tests of the alerts: config section: defaults, and errors naming the field. */
import { describe, expect, it } from 'vitest'
import { parseConfigText } from './load.js'

const base = [
  'services: { orders: { targets: [http://127.0.0.1:9001] }, users: { targets: [http://127.0.0.1:9002] } }',
  'routes: [ { path: /, service: orders } ]',
]
const parse = (...lines: string[]) => parseConfigText([...base, ...lines].join('\n'), 'vigil.yaml', {})
const problems = (...lines: string[]): string => {
  try {
    parse(...lines)
  } catch (err) {
    return (err as Error).message
  }
  throw new Error('expected a config error')
}

describe('alerts: config', () => {
  it('is on with no rules and no sinks by default', () => {
    expect(parse().alerts).toEqual({
      enabled: true,
      repeatInterval: 4 * 3_600_000,
      staleAfter: { ms: 600_000 },
      keepResolved: 86_400_000,
      enrichTimeout: 1_000,
      rules: [],
      sinks: [],
    })
  })

  it('fills rule and sink defaults and parses holds and durations', () => {
    const cfg = parse(
      'alerts:',
      '  repeatInterval: 30m',
      '  sinks:',
      '    - { name: ops, kind: webhook, url: "https://hooks.example.com/x?token=1" }',
      '    - { name: am, kind: alertmanager, url: "http://127.0.0.1:9093" }',
      '  rules:',
      '    - { name: slow, kind: latency, threshold: 800, for: 2 windows, match: { service: orders } }',
      '    - { name: errs, kind: error-ratio, for: 30s, resolveFor: 1m, sinks: [ops] }',
    )
    expect(cfg.alerts.repeatInterval).toBe(1_800_000)
    expect(cfg.alerts.rules[0]).toMatchObject({
      kind: 'latency',
      quantile: 'p95',
      threshold: 800,
      mode: 'enforce',
      level: 'service',
      for: { windows: 2 },
      resolveFor: { windows: 1 },
      match: { service: 'orders' },
    })
    expect(cfg.alerts.rules[1]).toMatchObject({
      floor: 0.02,
      quantile: 0.99,
      tailP: 0.001,
      for: { ms: 30_000 },
      resolveFor: { ms: 60_000 },
    })
    expect(cfg.alerts.sinks[0]).toMatchObject({ maxQueue: 1_000, maxAttempts: 10, headers: {} })
    expect(cfg.alerts.sinks[1]).toMatchObject({ resendEveryMs: 60_000 })
  })

  it('names the field of each mistake', () => {
    const cases: [string[], RegExp][] = [
      [
        ['alerts: { rules: [ { name: x, kind: latency, threshold: 800, windows: 2 } ] }'],
        /alerts\.rules\[0\]\.windows: unknown key "windows"/,
      ],
      [
        ['alerts: { rules: [ { name: x, kind: latency, threshold: 800, for: soon } ] }'],
        /alerts\.rules\[0\]\.for: expected a number of windows like "2 windows", or a duration like 30s/,
      ],
      [['alerts: { rules: [ { name: x, kind: latency } ] }'], /alerts\.rules\[0\]\.threshold/],
      [['alerts: { rules: [ { name: x, kind: loudness } ] }'], /alerts\.rules\[0\]\.kind/],
      [
        ['alerts: { sinks: [ { name: ops, kind: webhook, url: "ftp://x/y" } ] }'],
        /alerts\.sinks\[0\]\.url: expected an http:\/\/ or https:\/\/ URL/,
      ],
      [['alerts: { sinks: [ { name: ops, kind: webhook } ] }'], /alerts\.sinks\[0\]\.url/],
      [
        ['alerts: { sinks: [ { name: ops, kind: slack, url: "ftp://bot:hunter2@x/y?token=abc&v=1" } ] }'],
        /alerts\.sinks\[0\]\.url: expected an http:\/\/ or https:\/\/ URL, got "ftp:\/\/bot:\*\*\*@x\/y\?token=\*\*\*&v=\*\*\*"/,
      ],
      [
        ['alerts: { rules: [ { name: x, kind: failure, match: { region: eu } } ] }'],
        /alerts\.rules\[0\]\.match\.region: unknown key "region"/,
      ],
      [
        ['alerts: { rules: [ { name: x, kind: latency, threshold: 800, resolveFor: 2 weeks } ] }'],
        /alerts\.rules\[0\]\.resolveFor: expected a number of windows/,
      ],
      [
        [
          'alerts: { rules: [ { name: x, kind: failure, sinks: [pager] } ], sinks: [ { name: ops, kind: stdout } ] }',
        ],
        /alerts\.rules\[0\]\.sinks\[0\]: unknown sink "pager" \(known: ops\)/,
      ],
      [
        ['alerts: { rules: [ { name: x, kind: failure }, { name: x, kind: failure } ] }'],
        /alerts\.rules\[1\]\.name: rule name "x" is already used by alerts\.rules\[0\]/,
      ],
      [
        ['alerts: { rules: [ { name: x, kind: failure, match: { service: ordrs } } ] }'],
        /alerts\.rules\[0\]\.match\.service: unknown service "ordrs" \(known: orders, users\); did you mean "orders"\?$/,
      ],
      [
        [
          'alerts: { rules: [ { name: x, kind: failure, sinks: [opps] } ], sinks: [ { name: ops, kind: stdout } ] }',
        ],
        /alerts\.rules\[0\]\.sinks\[0\]: unknown sink "opps" \(known: ops\); did you mean "ops"\?$/,
      ],
      [
        ['alerts: { rules: [ { name: x, kind: failure, sinks: [ops] } ] }'],
        /alerts\.rules\[0\]\.sinks\[0\]: unknown sink "ops" \(known: none; add one under alerts\.sinks\)$/,
      ],
      [
        ['alerts: { rules: [ { name: x, kind: failure, match: { route: / } } ] }'],
        /alerts\.rules\[0\]\.level: match\.route judges route series: set level: route/,
      ],
      [['alerts: { repeatInterval: 4 hours }'], /alerts\.repeatInterval/],
      [
        ['alerts: { rules: [ { name: X Y, kind: failure } ] }'],
        /alerts\.rules\[0\]\.name: rule names are lower-case/,
      ],
    ]
    for (const [lines, re] of cases) expect(problems(...lines), lines.join()).toMatch(re)
  })

  it('accepts a route by its name, or its path when it has none, with its own service, and any env', () => {
    const cfg = parseConfigText(
      [
        'services: { orders: { targets: [http://127.0.0.1:9001] } }',
        'routes: [ { path: /, service: orders }, { name: checkout, path: /checkout, service: orders } ]',
        'alerts:',
        '  rules:',
        '    - { name: a, kind: failure, level: route, match: { route: / } }',
        '    - { name: b, kind: failure, level: route, match: { service: orders, route: checkout } }',
        '    - { name: c, kind: failure, level: route, match: { service: "*", route: "*", env: staging } }',
      ].join('\n'),
      'vigil.yaml',
      {},
    )
    expect(cfg.alerts.rules.map((r) => r.match)).toEqual([
      { route: '/' },
      { service: 'orders', route: 'checkout' },
      { service: '*', route: '*', env: 'staging' },
    ])
  })

  it('never shows the secret of a sink URL it refuses', () => {
    const msg = problems(
      'alerts: { sinks: [ { name: ops, kind: webhook, url: "file://u:hunter2@h/p?key=abc123" }, { name: am, kind: alertmanager, url: "ftp://h/?token=zz9" } ] }',
    )
    expect(msg).toMatch(/alerts\.sinks\[0\]\.url/)
    expect(msg).toMatch(/alerts\.sinks\[1\]\.url/)
    for (const secret of ['hunter2', 'abc123', 'zz9']) expect(msg).not.toContain(secret)
  })

  it('staleAfter: windows or a duration, at least 2 windows long; a bad value names the field', () => {
    expect(parse('alerts: { staleAfter: 5 windows }').alerts.staleAfter).toEqual({ windows: 5 })
    expect(parse('alerts: { staleAfter: 2m }').alerts.staleAfter).toEqual({ ms: 120_000 })
    expect(parse('telemetry: { windowMs: 1000 }', 'alerts: { staleAfter: 2s }').alerts.staleAfter).toEqual({
      ms: 2_000,
    })
    const cases: [string[], RegExp][] = [
      [
        ['alerts: { staleAfter: 0 }'],
        /alerts\.staleAfter: 0 ms is shorter than 2 windows \(20000 ms with telemetry\.windowMs 10000\)/,
      ],
      [['alerts: { staleAfter: 15s }'], /alerts\.staleAfter: 15000 ms is shorter than 2 windows/],
      [
        ['alerts: { staleAfter: 1 window }'],
        /alerts\.staleAfter: 10000 ms is shorter than 2 windows.*use e\.g\. "5 windows" or 10m/,
      ],
      [
        ['telemetry: { windowMs: 60000 }', 'alerts: { staleAfter: 1m }'],
        /alerts\.staleAfter: 60000 ms is shorter than 2 windows \(120000 ms/,
      ],
      [
        ['alerts: { staleAfter: soon }'],
        /alerts\.staleAfter: expected a number of windows like "2 windows", or a duration/,
      ],
      [['alerts: { staleAfter: -5 }'], /alerts\.staleAfter/],
    ]
    for (const [lines, re] of cases) expect(problems(...lines), lines.join()).toMatch(re)
  })
})
