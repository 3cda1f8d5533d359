import { describe, expect, it } from 'vitest'
import { parseConfigText } from './load.js'
import { reloadChanges } from './reload-diff.js'

const base = [
  'services:',
  '  api: { targets: [http://127.0.0.1:9001] }',
  'routes:',
  '  - { path: /, service: api }',
]
const cfg = (...extra: string[]) => parseConfigText([...base, ...extra].join('\n'), 'vigil.yaml', {})

describe('what a reload changed, and what waits for a restart', () => {
  it('nothing changed: both lists empty', () => {
    expect(reloadChanges(cfg(), cfg())).toEqual({ changed: [], restartRequired: [] })
  })

  it('gateway.port and the other settings read at start need a restart; routes and services apply now', () => {
    const after = parseConfigText(
      [
        'gateway: { port: 9090, accessLog: { sampleRate: 0.5 } }',
        'admin: { token: new-secret }',
        'services:',
        '  api: { targets: [http://127.0.0.1:9001, http://127.0.0.1:9002] }',
        'routes:',
        '  - { path: /, service: api, retry: { attempts: 2 } }',
        'limits: { enabled: true }',
      ].join('\n'),
      'vigil.yaml',
      {},
    )
    const r = reloadChanges(cfg(), after)
    expect(r.restartRequired).toEqual(['gateway.port', 'admin.token', 'limits.enabled'])
    expect(r.changed).toEqual(
      expect.arrayContaining([
        'gateway.port',
        'gateway.accessLog.sampleRate',
        'services.api.targets[1]',
        'routes[0].retry.attempts',
      ]),
    )
    // paths only: a secret value never appears
    expect(JSON.stringify(r)).not.toContain('new-secret')
  })

  it('a new route applies now unless it brings a limit fallback', () => {
    const more = (route: string) =>
      reloadChanges(cfg(), cfg(`  - { path: /b, service: api${route} }`)).restartRequired
    expect(more('')).toEqual([])
    expect(more(', limit: { priority: high }')).toEqual([])
    expect(more(', limit: { fallback: open }')).toEqual(['routes[1]'])
  })

  it('a route fallback and a scale block wait for a restart (the limiter and autoscaler read them once)', () => {
    const r = reloadChanges(
      cfg(),
      parseConfigText(
        [
          'services:',
          '  api: { targets: [http://127.0.0.1:9001], scale: { min: 1, max: 3, capacityPerReplica: 10 } }',
          'routes:',
          '  - { path: /, service: api, limit: { fallback: closed } }',
        ].join('\n'),
        'vigil.yaml',
        {},
      ),
    )
    expect(r.restartRequired).toEqual(['services.api.scale', 'routes[0].limit'])
  })

  it('alert rules, sinks and their settings apply now; turning alerting on or off waits for a restart', () => {
    const alerts = [
      'alerts:',
      '  repeatInterval: 1h',
      '  rules: [ { name: down, kind: failure } ]',
      '  sinks: [ { name: ops, kind: slack, url: "https://hooks.slack.com/services/x" } ]',
    ]
    const r = reloadChanges(cfg(), cfg(...alerts))
    expect(r.changed).toEqual(
      expect.arrayContaining(['alerts.repeatInterval', 'alerts.rules[0]', 'alerts.sinks[0]']),
    )
    expect(r.restartRequired).toEqual([])
    expect(reloadChanges(cfg(), cfg('alerts: { enabled: false }')).restartRequired).toEqual([
      'alerts.enabled',
    ])
  })
})
