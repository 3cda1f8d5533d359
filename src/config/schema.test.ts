import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadConfig, parseConfigText } from './load.js'

const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/config/${name}`, import.meta.url), 'utf8')
const example = (name: string) => new URL(`../../examples/${name}`, import.meta.url).pathname

function messageOf(text: string): string {
  try {
    parseConfigText(text, 'vigil.yaml', {})
  } catch (err) {
    return (err as Error).message
  }
  return 'no error'
}

/** One fixture per mistake; each asserts the exact message a user sees (file: path: message, got value). */
const CASES: Array<[file: string, message: string]> = [
  [
    'bad-empty-file.yaml',
    'vigil.yaml: the file is empty; a config needs at least services: and routes: (the smallest is in the README under Configuration)',
  ],
  [
    'bad-unknown-service.yaml',
    'vigil.yaml: routes[2].service: unknown service "ordrs" (known: orders, users); did you mean "orders"?',
  ],
  [
    'bad-misspelled-key.yaml',
    'vigil.yaml: routes[0].timeoutMs: unknown key "timeoutMs"; remove it or check its spelling',
  ],
  [
    'bad-key-typo.yaml',
    'vigil.yaml: routes[0].totalTimeoutMS: unknown key "totalTimeoutMS"; did you mean "totalTimeoutMs"?',
  ],
  [
    'bad-port.yaml',
    'vigil.yaml: gateway.port: expected a port number 0-65535 (0 picks a free port), got "eighty"',
  ],
  [
    'bad-target-url.yaml',
    'vigil.yaml: services.api.targets[0]: expected an http:// or https:// URL, got "127.0.0.1:9001"',
  ],
  [
    // the route naming a misspelt service lists the service whose target is wrong too
    'bad-target-and-unknown-service.yaml',
    'vigil.yaml: services.api.targets[0]: expected an http:// or https:// URL, got "127.0.0.1:9001"\nvigil.yaml: routes[1].service: unknown service "ordrs" (known: api)',
  ],
  [
    'bad-balancer.yaml',
    'vigil.yaml: services.api.balancer: expected one of "round-robin", "least-outstanding", got "random"',
  ],
  ['bad-no-routes.yaml', 'vigil.yaml: routes: add at least one route, got []'],
  [
    // the unit is in the key's name; a value with its own unit is told the number to write
    'bad-units.yaml',
    'vigil.yaml: gateway.bodyLimitBytes: expected a number of bytes (the key ends in Bytes), got "10MB"; write 10485760 (10 MiB)\nvigil.yaml: routes[0].totalTimeoutMs: expected a number of milliseconds (the key ends in Ms), got "30 s"; write 30000',
  ],
  [
    'bad-route-priority.yaml',
    'vigil.yaml: routes[0].limit.priority: unknown priority class "criticl" (known: low, normal, high, critical; more under limits.classes); did you mean "critical"?',
  ],
  [
    // the limiter would refuse to start on these; check-config and a reload say so first
    'bad-key-tier.yaml',
    [
      'vigil.yaml: limits.identity.anonymousTier: unknown tier "std" (known: STD, PRM, GOLD, SILVER; more under limits.tiers); did you mean "STD"?',
      'vigil.yaml: limits.keys[2].tier: unknown tier "SILVR" (known: STD, PRM, GOLD, SILVER; more under limits.tiers); did you mean "SILVER"?',
      'vigil.yaml: limits.keys[3].tier: unknown tier "BRONZE" (known: STD, PRM, GOLD, SILVER; more under limits.tiers)',
    ].join('\n'),
  ],
  [
    // a budget keyed by a misspelt service would never apply
    'bad-limits-service.yaml',
    [
      'vigil.yaml: limits.services.ordrs: unknown service "ordrs" (known: orders, users); did you mean "orders"?',
      'vigil.yaml: limits.services.payments: unknown service "payments" (known: orders, users)',
    ].join('\n'),
  ],
  [
    // series carry the route's name (its path when it has none) and the route's own service
    'bad-alert-route.yaml',
    [
      'vigil.yaml: alerts.rules[0].match.route: unknown route "chekout" (known: checkout, /users; a route without a name is known by its path); did you mean "checkout"?',
      'vigil.yaml: alerts.rules[1].match.route: unknown route "users" (known: checkout, /users; a route without a name is known by its path); did you mean "/users"?',
      'vigil.yaml: alerts.rules[2].match.route: route "checkout" goes to service "orders", not "users": the rule would match no series; fix match.service or match.route',
    ].join('\n'),
  ],
  [
    'bad-sink-kind.yaml',
    'vigil.yaml: alerts.sinks[0].kind: expected one of "webhook", "slack", "alertmanager", "file", "stdout", got "jsonl"',
  ],
  ['bad-store-no-kind.yaml', 'vigil.yaml: store.kind: missing; set it to "sqlite" or "postgres"'],
  [
    // every discriminated union of the config: the missing key is named with its values
    'bad-missing-kinds.yaml',
    [
      'vigil.yaml: services.api.scale.actuator.kind: missing; set it to "process", "docker" or "kubernetes"',
      'vigil.yaml: bus.kind: missing; set it to "memory" or "nats"',
      'vigil.yaml: store.kind: missing; set it to "sqlite" or "postgres"',
      'vigil.yaml: alerts.rules[0].kind: missing; set it to "latency", "error-ratio", "failure", "forecast", "anomaly", "rate-limit" or "actuator"',
      'vigil.yaml: alerts.sinks[0].kind: missing; set it to "webhook", "slack", "alertmanager", "file" or "stdout"',
    ].join('\n'),
  ],
  [
    'bad-empty-targets.yaml',
    'vigil.yaml: services.api.targets: a service needs at least one target URL, got []',
  ],
  [
    'bad-duplicate-route-name.yaml',
    'vigil.yaml: routes[1].name: route name "api" is already used by routes[0]; give one of them a distinct name',
  ],
  [
    'bad-duplicate-route-path.yaml',
    'vigil.yaml: routes[1].path: "/users/:name" (prefix, all methods) is already matched by routes[0]; remove one or narrow its methods',
  ],
  [
    'bad-route-fields.yaml',
    [
      'vigil.yaml: routes[1].path: missing; add it (text)',
      'vigil.yaml: routes[2].path: expected text, got 5; quote it: "5"',
      // the routes whose path is wrong are still checked, and the ones after them keep their place
      'vigil.yaml: routes[2].service: unknown service "ordrs" (known: orders, users); did you mean "orders"?',
      'vigil.yaml: routes[3].service: unknown service "usrs" (known: orders, users); did you mean "users"?',
      'vigil.yaml: routes[4].path: "/orders" (prefix, all methods) is already matched by routes[0]; remove one or narrow its methods',
    ].join('\n'),
  ],
  ['bad-route-path.yaml', 'vigil.yaml: routes[0].path: a route path starts with "/", got "users"'],
  ['bad-method.yaml', 'vigil.yaml: routes[0].methods[1]: methods are upper case, e.g. GET, got "get"'],
  [
    'bad-unknown-method.yaml',
    'vigil.yaml: routes[0].methods[0]: unknown HTTP method "FETCH"; use one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS',
  ],
  [
    'bad-retry-attempts.yaml',
    'vigil.yaml: routes[0].retry.attempts: must be at least 1, got 0; write 1 or more',
  ],
  [
    'bad-retry-attempts-fraction.yaml',
    'vigil.yaml: routes[0].retry.attempts: expected a whole number, got 2.5; write 2 or 3',
  ],
  [
    'bad-methods-not-list.yaml',
    'vigil.yaml: routes[0].methods: expected a list, got "GET"; write a list: [GET] or one "- GET" line per item',
  ],
  [
    'bad-retry-on.yaml',
    'vigil.yaml: routes[0].retry.on[0]: expected one of "502", "503", "504", "connect-error", "timeout", got 500',
  ],
  [
    'bad-backoff-order.yaml',
    'vigil.yaml: routes[0].retry.backoffBaseMs: 2000 is larger than backoffMaxMs 100; make it at most backoffMaxMs',
  ],
  [
    'bad-ejection-order.yaml',
    'vigil.yaml: services.api.breaker.baseEjectionMs: 60000 is larger than maxEjectionMs 1000; make it at most maxEjectionMs',
  ],
  [
    'bad-trace-wait-order.yaml',
    'vigil.yaml: journeys.maxTraceWaitMs: 5000 is smaller than traceWaitMs 15000; make it at least traceWaitMs, or leave it out for 4 × traceWaitMs',
  ],
  [
    'bad-health-path.yaml',
    'vigil.yaml: services.api.healthCheck.path: a health check path starts with "/", got "health"',
  ],
  [
    'bad-budget-ratio.yaml',
    'vigil.yaml: services.api.retryBudget.ratio: must be at most 1, got 1.5; write 1 or less',
  ],
  [
    'bad-sample-rate.yaml',
    'vigil.yaml: gateway.accessLog.sampleRate: must be at least 0, got -0.1; write 0 or more',
  ],
  [
    'bad-access-log-format.yaml',
    'vigil.yaml: gateway.accessLog.format: expected one of "json", "ecs", got "logfmt"',
  ],
  [
    'bad-negative-timeout.yaml',
    'vigil.yaml: routes[0].connectTimeoutMs: must be more than 0, got -5; write a number above 0',
  ],
  [
    'bad-service-name.yaml',
    'vigil.yaml: services.Orders: service names are lower-case letters, digits, - and _ (starting with a letter or digit), got "Orders"',
  ],
  [
    'bad-missing-env.yaml',
    'vigil.yaml: services.api.targets[0]: environment variable UPSTREAM_URL (line 2) is not set; export it or write ${UPSTREAM_URL:-default}',
  ],
]

describe('config errors (one fixture per mistake)', () => {
  it.each(CASES)('%s', (file, message) => {
    expect(() => parseConfigText(fixture(file), 'vigil.yaml', {})).toThrow(message)
    try {
      parseConfigText(fixture(file), 'vigil.yaml', {})
    } catch (err) {
      expect((err as Error).message).toBe(message)
    }
  })

  it('reports cross-reference problems of the parts that parsed beside the schema problems', () => {
    const text = [
      'services:',
      '  api: { targets: [http://127.0.0.1:9001], colour: blue }',
      'routes:',
      '  - { path: /a, service: nope, timeoutMs: 5 }',
      '  - { path: /b, service: api, retry: { attempts: 2.5 } }',
      '  - { path: /c, service: gone }',
      '  - { path: /d, service: api, retry: { backoffBaseMs: 2000, backoffMaxMs: soon } }',
      'gateway: { port: eighty }',
    ].join('\n')
    expect(messageOf(text)).toBe(
      [
        'vigil.yaml: gateway.port: expected a port number 0-65535 (0 picks a free port), got "eighty"',
        'vigil.yaml: services.api.colour: unknown key "colour"; remove it or check its spelling',
        'vigil.yaml: routes[0].timeoutMs: unknown key "timeoutMs"; remove it or check its spelling',
        'vigil.yaml: routes[1].retry.attempts: expected a whole number, got 2.5; write 2 or 3',
        'vigil.yaml: routes[3].retry.backoffMaxMs: expected a number, got "soon"; write digits without quotes, e.g. 5 or 0.5',
        'vigil.yaml: routes[0].service: unknown service "nope" (known: api)',
        'vigil.yaml: routes[2].service: unknown service "gone" (known: api)',
        // not "2000 is larger than backoffMaxMs 1000": that would be about the default, not the file
      ].join('\n'),
    )
  })

  it('reports cross-reference problems beside a service whose required field is wrong, none about that service', () => {
    const text = [
      'services:',
      '  web: { targets: "http://127.0.0.1:9002" }',
      '  api: { targets: [http://127.0.0.1:9001] }',
      'routes:',
      '  - { path: /a, service: web }',
      '  - { path: /b, service: nope }',
    ].join('\n')
    expect(messageOf(text)).toBe(
      [
        'vigil.yaml: services.web.targets: expected a list, got "http://127.0.0.1:9002"; write a list: [http://127.0.0.1:9002] or one "- http://127.0.0.1:9002" line per item',
        // not 'routes[0].service: unknown service "web"': it is there, with a wrong field
        // web is known too: it is declared, only its targets are wrong
        'vigil.yaml: routes[1].service: unknown service "nope" (known: web, api)',
      ].join('\n'),
    )
  })

  it('still reports an unknown service named like a capacity budget that is wrong itself', () => {
    const text = [
      'services:\n  orders: { targets: [http://127.0.0.1:9001] }',
      'routes:\n  - { path: /a, service: ordrs }\n  - { path: /b, service: payments }',
      'limits:\n  enabled: true\n  services: { ordrs: { ratePerSec: 10 }, orders: { ratePerSec: 10 } }',
    ].join('\n')
    expect(messageOf(text)).toBe(
      [
        'vigil.yaml: limits.services.ordrs.burst: expected a number > 0',
        'vigil.yaml: limits.services.orders.burst: expected a number > 0',
        // the budgets' own problems hide neither the route naming "ordrs" nor the suggestion "orders"
        'vigil.yaml: routes[0].service: unknown service "ordrs" (known: orders); did you mean "orders"?',
        'vigil.yaml: routes[1].service: unknown service "payments" (known: orders)',
      ].join('\n'),
    )
  })

  it('says nothing of a key whose tier is declared with a wrong field', () => {
    const text = [
      'services:\n  api: { targets: [http://127.0.0.1:9001] }',
      'routes:\n  - { path: /a, service: api }',
      'limits:\n  enabled: true\n  tiers: { GOLD: { ratePerSec: 10 } }',
      '  keys: [ { id: k1, key: secret-key-1, tier: GOLD }, { id: k2, key: secret-key-2, tier: GOLDD } ]',
    ].join('\n')
    const message = messageOf(text)
    expect(message).toMatch(/^vigil\.yaml: limits\.tiers\.GOLD\.burst: /)
    expect(message).toContain('limits.keys[1].tier: unknown tier "GOLDD"')
    // not 'limits.keys[0].tier: unknown tier "GOLD"': it is there, with a wrong field
    expect(message).not.toContain('keys[0]')
  })

  it('checks the other fields of a route whose required field is wrong, and the rest of the file, even when it is the only route', () => {
    const text = [
      'services:\n  api: { targets: [http://127.0.0.1:9001] }',
      'routes:\n  - { path: 5, service: nope }',
      'alerts:\n  rules: [ { name: slow, kind: latency, threshold: 800, match: { service: apj } } ]',
    ].join('\n')
    expect(messageOf(text)).toBe(
      [
        'vigil.yaml: routes[0].path: expected text, got 5; quote it: "5"',
        'vigil.yaml: routes[0].service: unknown service "nope" (known: api)',
        'vigil.yaml: alerts.rules[0].match.service: unknown service "apj" (known: api)',
      ].join('\n'),
    )
  })

  it('checks the rest of the file when routes are missing or empty', () => {
    const services = 'services:\n  api: { targets: [http://127.0.0.1:9001] }'
    const rules =
      'alerts:\n  rules: [ { name: slow, kind: latency, threshold: 800, match: { service: apj } } ]'
    const unknown = 'vigil.yaml: alerts.rules[0].match.service: unknown service "apj" (known: api)'
    expect(messageOf([services, 'routes: []', rules].join('\n'))).toBe(
      ['vigil.yaml: routes: add at least one route, got []', unknown].join('\n'),
    )
    expect(messageOf([services, rules].join('\n'))).toBe(
      ['vigil.yaml: routes: missing; add it (a list)', unknown].join('\n'),
    )
  })

  it('leaves out a list item that cannot stand, keeping the place of the items after it and dropping checks naming it', () => {
    const text = [
      'services:\n  api: { targets: [http://127.0.0.1:9001] }',
      'routes:',
      '  - /api', // not a route
      '  - { path: /a, service: api }',
      '  - { name: a2, path: /a, service: api }',
      'alerts:',
      '  sinks:',
      '    - { name: pager, kind: jsonl }', // no such kind: the sink cannot be checked
      '    - { name: log, kind: stdout }',
      '    - { name: log, kind: stdout }',
      '  rules:',
      '    - { name: slow, kind: latency, threshold: 800, sinks: [pager, nope] }',
    ].join('\n')
    const lines = messageOf(text).split('\n')
    expect(lines.slice(2)).toEqual([
      'vigil.yaml: routes[2].path: "/a" (prefix, all methods) is already matched by routes[1]; remove one or narrow its methods',
      'vigil.yaml: alerts.sinks[2].name: sink name "log" is already used by alerts.sinks[1]; give one of them a distinct name',
      // not 'unknown sink "pager"': it is there, with a wrong kind
      'vigil.yaml: alerts.rules[0].sinks[1]: unknown sink "nope" (known: log)',
    ])
    expect(lines[0]).toMatch(/^vigil\.yaml: routes\[0\]: /)
    expect(lines[1]).toMatch(/^vigil\.yaml: alerts\.sinks\[0\]\.kind: /)
  })

  it('renumbers what a list says of its own items after one is left out', () => {
    const text = [
      'services:\n  api: { targets: [http://127.0.0.1:9001] }',
      'routes:\n  - { path: /a, service: api }',
      'limits: { services: { api: { ratePerSec: 100, burst: 100 } } }',
      'policies:',
      '  forecastPressure:',
      '    services: [api]',
      '    steps:',
      '      - { above: 0.9, tiers: { STD: 0.5 } }',
      '      - { above: high, tiers: { STD: 0.2 } }',
      '      - { above: 0.8, tiers: { GOLD: 0.5 } }',
    ].join('\n')
    expect(messageOf(text).split('\n').slice(1)).toEqual([
      'vigil.yaml: policies.forecastPressure.steps[2].tiers.GOLD: unknown tier "GOLD" (known: STD, PRM; more under limits.tiers)',
      'vigil.yaml: policies.forecastPressure.steps[2].above: 0.8 is not above steps[0].above 0.9; list steps from the lowest pressure up',
    ])
  })

  it('reports a YAML syntax error with the file name and position', () => {
    expect(() => parseConfigText(fixture('bad-yaml.yaml'), 'vigil.yaml', {})).toThrow(
      /^vigil\.yaml: not valid YAML: .* at line 3, column 1$/,
    )
  })

  it('every bad-*.yaml fixture has a case', async () => {
    const { readdirSync } = await import('node:fs')
    const files = readdirSync(new URL('../../test/fixtures/config/', import.meta.url)).filter((f) =>
      f.startsWith('bad-'),
    )
    expect(files.sort()).toEqual([...CASES.map((c) => c[0]), 'bad-yaml.yaml'].sort())
  })
})

describe('config defaults', () => {
  it('examples/proxy.yaml serves with only UPSTREAM_URL set, port from ${PORT:-8080}', () => {
    const cfg = loadConfig(example('proxy.yaml'), { UPSTREAM_URL: 'http://127.0.0.1:9001' })
    expect(cfg.gateway.port).toBe(8080)
    expect(cfg.services.upstream.targets).toEqual(['http://127.0.0.1:9001'])
    expect(cfg.routes[0]).toMatchObject({ path: '/', match: 'prefix', service: 'upstream' })
    expect(loadConfig(example('proxy.yaml'), { UPSTREAM_URL: 'http://u:1', PORT: '9999' }).gateway.port).toBe(
      9999,
    )
  })

  it('examples/vigil.yaml is valid', () => {
    const cfg = loadConfig(example('vigil.yaml'), {})
    expect(Object.keys(cfg.services).length).toBeGreaterThan(1)
  })

  it('fills every gateway, service and route default', () => {
    const cfg = parseConfigText(
      'services: { a: { targets: [http://h:1] } }\nroutes: [{ path: /, service: a }]',
      'v.yaml',
      {},
    )
    expect(cfg.gateway).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      bodyLimitBytes: 1_073_741_824,
      retryBufferBytes: 65_536,
      headersTimeoutMs: 10_000,
      shutdownGraceMs: 10_000,
      accessLog: { enabled: true, sampleRate: 1, destination: 'stdout', format: 'json' },
    })
    expect(cfg.services.a).toMatchObject({
      balancer: 'round-robin',
      retryBudget: { ratio: 0.2, minRetries: 3 },
      breaker: { enabled: true, consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000 },
    })
    expect(cfg.services.a.healthCheck).toBeUndefined()
    expect(cfg.routes[0]).toMatchObject({
      connectTimeoutMs: 3_000,
      firstByteTimeoutMs: 15_000,
      totalTimeoutMs: 30_000,
      retry: { attempts: 3, backoffBaseMs: 25, backoffMaxMs: 1_000 },
    })
    expect(Object.isFrozen(cfg.routes[0].retry)).toBe(true)
  })

  it('fills health check defaults when the section is present', () => {
    const cfg = parseConfigText(
      'services: { a: { targets: [http://h:1], healthCheck: {} } }\nroutes: [{ path: /, service: a }]',
      'v.yaml',
      {},
    )
    expect(cfg.services.a.healthCheck).toEqual({
      path: '/health',
      intervalMs: 5_000,
      timeoutMs: 2_000,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    })
  })
})
