import { describe, expect, it } from 'vitest'
import { parseConfigText, validateConfig } from './index.js'

const base = (limits: string, route = '{ path: /, service: api }') => `
services: { api: { targets: ["http://127.0.0.1:9001"] } }
routes: [ ${route} ]
limits:
${limits}
`

function problems(text: string): string[] {
  try {
    parseConfigText(text, 'vigil.yaml', {})
    return []
  } catch (err) {
    return String((err as Error).message).split('\n')
  }
}

describe('limits config', () => {
  it('fills every default when only enabled is given', () => {
    const cfg = parseConfigText(base('  enabled: true'), 'vigil.yaml', {})
    expect(cfg.limits).toMatchObject({
      enabled: true,
      store: 'memory',
      redis: { url: 'redis://127.0.0.1:6379', keyPrefix: 'vigil:rl:', timeoutMs: 50 },
      fallback: { policy: 'local', localShare: 0.25, retryMs: 1000 },
      identity: {
        header: 'x-api-key',
        bearer: true,
        trustedProxies: [],
        unknownKey: 'reject',
        anonymousTier: 'STD',
      },
      defensive: { STD: 0.3, PRM: 0.8 },
      stats: { topK: 100, windowMs: 60_000 },
    })
  })

  it('is off with defaults when the section is absent', () => {
    const r = validateConfig({
      services: { api: { targets: ['http://127.0.0.1:9001'] } },
      routes: [{ path: '/', service: 'api' }],
    })
    expect(r.config?.limits.enabled).toBe(false)
  })

  it('reads the per-route priority, cost and fallback override', () => {
    const cfg = parseConfigText(
      base(
        '  enabled: true',
        '{ path: /pay, service: api, limit: { priority: critical, cost: 3, fallback: closed } }',
      ),
      'vigil.yaml',
      {},
    )
    expect(cfg.routes[0]!.limit).toEqual({ priority: 'critical', cost: 3, fallback: 'closed' })
  })

  it('names a misspelled key', () => {
    expect(problems(base('  enabled: true\n  tier: {}')).join('\n')).toContain(
      'limits.tier: unknown key "tier"',
    )
  })

  it('names a bad tier rate with the value', () => {
    const msg = problems(base('  tiers: { GOLD: { ratePerSec: fast, burst: 10 } }')).join('\n')
    expect(msg).toContain('limits.tiers.GOLD.ratePerSec: expected a number > 0')
    expect(msg).toContain('"fast"')
  })

  it('does not call a budget unknown when its service is only left out for a problem of its own', () => {
    const text = [
      'services: { api: { targets: [nope] }, web: { targets: ["http://127.0.0.1:9001"] } }',
      'routes: [ { path: /, service: web } ]',
      'limits: { services: { api: { ratePerSec: 10, burst: 10 }, wbe: { ratePerSec: 10, burst: 10 } } }',
    ].join('\n')
    expect(problems(text)).toEqual([
      'vigil.yaml: services.api.targets[0]: expected an http:// or https:// URL, got "nope"',
      'vigil.yaml: limits.services.wbe: unknown service "wbe" (known: api, web)',
    ])
  })

  it('rejects an unknown fallback policy and a store that does not exist', () => {
    expect(problems(base('  fallback: { policy: maybe }')).join('\n')).toContain('limits.fallback.policy')
    expect(problems(base('  store: memcached')).join('\n')).toContain('limits.store')
  })
})
