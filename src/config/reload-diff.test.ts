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

  it('with an autoscaler running, a scale block applies now unless it changes the actuator or a learned capacity', () => {
    const scaled = (scale: string) =>
      parseConfigText(
        [
          'services:',
          `  api: { targets: [http://127.0.0.1:9001], scale: ${scale} }`,
          '  web: { targets: [http://127.0.0.1:9002] }',
          'routes:',
          '  - { path: /, service: api }',
        ].join('\n'),
        'vigil.yaml',
        {},
      )
    const before = scaled('{ min: 1, max: 3, capacityPerReplica: 10 }')
    const live = reloadChanges(
      before,
      scaled('{ min: 2, max: 2, capacityPerReplica: 20, targetUtilization: 0.5 }'),
    )
    expect(live.changed).toEqual(
      expect.arrayContaining(['services.api.scale.targetUtilization', 'services.api.scale.max']),
    )
    expect(live.restartRequired).toEqual([])
    const learn = '{ min: 1, max: 3, capacityPerReplica: { learn: true, initial: 10 } }'
    expect(reloadChanges(before, scaled(learn)).restartRequired).toEqual([
      'services.api.scale.capacityPerReplica',
    ])
    const actuator = '{ min: 1, max: 3, capacityPerReplica: 10, actuator: { kind: kubernetes } }'
    expect(reloadChanges(before, scaled(actuator)).restartRequired).toEqual(['services.api.scale.actuator'])
    // a block added to another service, or removed
    const more = parseConfigText(
      [
        'services:',
        '  api: { targets: [http://127.0.0.1:9001], scale: { min: 1, max: 3, capacityPerReplica: 10 } }',
        '  web: { targets: [http://127.0.0.1:9002], scale: { max: 4, capacityPerReplica: 5 } }',
        'routes:',
        '  - { path: /, service: api }',
      ].join('\n'),
      'vigil.yaml',
      {},
    )
    expect(reloadChanges(before, more)).toEqual({ changed: ['services.web.scale'], restartRequired: [] })
    expect(reloadChanges(more, before).restartRequired).toEqual([])
  })
})
