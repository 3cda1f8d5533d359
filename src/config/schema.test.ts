import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { loadConfig, parseConfigText } from './load.js'

const fixture = (name: string) =>
  readFileSync(new URL(`../../test/fixtures/config/${name}`, import.meta.url), 'utf8')
const example = (name: string) => new URL(`../../examples/${name}`, import.meta.url).pathname

/** One fixture per mistake; each asserts the exact message a user sees (file: path: message, got value). */
const CASES: Array<[file: string, message: string]> = [
  [
    'bad-unknown-service.yaml',
    'vigil.yaml: routes[2].service: unknown service "ordrs" (known: orders, users)',
  ],
  [
    'bad-misspelled-key.yaml',
    'vigil.yaml: routes[0].timeoutMs: unknown key "timeoutMs"; remove it or check its spelling',
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
    'bad-balancer.yaml',
    'vigil.yaml: services.api.balancer: Invalid option: expected one of "round-robin"|"least-outstanding", got "random"',
  ],
  ['bad-no-routes.yaml', 'vigil.yaml: routes: add at least one route, got []'],
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
  ['bad-route-path.yaml', 'vigil.yaml: routes[0].path: a route path starts with "/", got "users"'],
  ['bad-method.yaml', 'vigil.yaml: routes[0].methods[1]: methods are upper case, e.g. GET, got "get"'],
  [
    'bad-unknown-method.yaml',
    'vigil.yaml: routes[0].methods[0]: unknown HTTP method "FETCH"; use one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS',
  ],
  [
    'bad-retry-attempts.yaml',
    'vigil.yaml: routes[0].retry.attempts: Too small: expected number to be >=1, got 0',
  ],
  [
    'bad-retry-on.yaml',
    'vigil.yaml: routes[0].retry.on[0]: Invalid option: expected one of "502"|"503"|"504"|"connect-error"|"timeout", got 500',
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
    'bad-health-path.yaml',
    'vigil.yaml: services.api.healthCheck.path: a health check path starts with "/", got "health"',
  ],
  [
    'bad-budget-ratio.yaml',
    'vigil.yaml: services.api.retryBudget.ratio: Too big: expected number to be <=1, got 1.5',
  ],
  [
    'bad-sample-rate.yaml',
    'vigil.yaml: gateway.accessLog.sampleRate: Too small: expected number to be >=0, got -0.1',
  ],
  [
    'bad-access-log-format.yaml',
    'vigil.yaml: gateway.accessLog.format: Invalid option: expected one of "json"|"ecs", got "logfmt"',
  ],
  [
    'bad-negative-timeout.yaml',
    'vigil.yaml: routes[0].connectTimeoutMs: Too small: expected number to be >0, got -5',
  ],
  [
    'bad-service-name.yaml',
    'vigil.yaml: services.Orders: service names are lower-case letters, digits, - and _ (starting with a letter or digit), got "Orders"',
  ],
  [
    'bad-missing-env.yaml',
    'vigil.yaml: environment variable UPSTREAM_URL (line 2) is not set; export it or write ${NAME:-default}',
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

  it('reports a YAML syntax error with the file name and position', () => {
    expect(() => parseConfigText(fixture('bad-yaml.yaml'), 'vigil.yaml', {})).toThrow(
      /^vigil\.yaml: not valid YAML: .* at line 3, column 1/,
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
