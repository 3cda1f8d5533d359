/** @module Actuator failures through the action log to the alert engine's `actuator` rules and a sink. */
import { describe, expect, it } from 'vitest'
import { AlertEngine, SinkDispatcher, type Sink } from '../alerts/index.js'
import type { Notification } from '../alerts/types.js'
import { parseConfigText } from '../config/index.js'
import { openStore } from '../store/index.js'
import { ActionLog } from './actions.js'
import { soleLeadership } from './leadership.js'
import { actuatorSignals, DEFAULT_ACTUATOR_RULE, withActuatorRule } from './scale-alerts.js'

const config = (mode: string, rules = '[]') =>
  parseConfigText(
    [
      'env: prod',
      'services:',
      '  orders:',
      '    targets: [http://127.0.0.1:9001]',
      `    scale: { mode: ${mode}, min: 1, max: 3, actuator: { kind: process, command: [nope, "$PORT"] } }`,
      '  users: { targets: [http://127.0.0.1:9002] }',
      'routes: [ { path: /, service: orders } ]',
      `alerts: { rules: ${rules} }`,
    ].join('\n'),
    'vigil.yaml',
    {},
  )

class RecordingSink implements Sink {
  readonly kind = 'webhook' as const
  readonly name = 'hook'
  readonly describe = 'test'
  readonly got: Notification[] = []
  async send(batch: readonly Notification[]): Promise<void> {
    this.got.push(...batch)
  }
  async close(): Promise<void> {}
}

const until = async (ok: () => boolean) => {
  for (let i = 0; i < 300 && !ok(); i++) await new Promise((r) => setTimeout(r, 10))
}

describe('actuator alerts', () => {
  it('adds a critical scale-actuator rule only when scaling is enforced and no actuator rule is configured', () => {
    const added = withActuatorRule(config('enforce')).alerts.rules
    expect(added.map((r) => [r.name, r.kind, r.severity, r.mode])).toEqual([
      [DEFAULT_ACTUATOR_RULE, 'actuator', 'critical', 'enforce'],
    ])
    expect(withActuatorRule(config('shadow')).alerts.rules).toEqual([])
    const own = withActuatorRule(config('enforce', '[{ name: scaling, kind: actuator, severity: warning }]'))
    expect(own.alerts.rules.map((r) => [r.name, r.severity])).toEqual([['scaling', 'warning']])
  })

  it('pages once per failure streak, is not resolved as stale, and resolves when scaling works again', async () => {
    const cfg = withActuatorRule(config('enforce'))
    const store = await openStore({ kind: 'sqlite', path: ':memory:', retention: cfg.store.retention })
    const actions = new ActionLog({ store, leadership: await soleLeadership(store, 'test') })
    const sink = new RecordingSink()
    const engine = new AlertEngine({
      rules: cfg.alerts.rules,
      windowMs: 1_000,
      repeatIntervalMs: 3_600_000,
      staleAfterMs: 10_000,
      keepResolvedMs: 86_400_000,
      linkBase: 'http://admin',
      context: { budgets: {} },
      actions,
      dispatchers: [
        new SinkDispatcher(sink, { maxQueue: 10, maxAttempts: 1, backoffMs: 1, maxBackoffMs: 1 }),
      ],
    })
    await engine.start()
    actions.watch(actuatorSignals(engine, 'prod'))
    const scaleAlert = async (atMs: number) => {
      const rec = await actions.record({
        kind: 'scale.alert',
        policy: 'autoscale',
        mode: 'enforce',
        target: 'service:orders',
        reason: 'the actuator failed 3 times (retried with backoff): spawn nope ENOENT',
        evidence: { actuator: 'process', code: 'VGL_ERR_SCALE_ACTUATOR', tries: 3 },
        atMs,
      })
      await actions.settle(rec, { status: 'ok' })
    }
    const t0 = Date.now()
    await scaleAlert(t0)
    await engine.idle()
    await until(() => sink.got.length === 1)
    expect(sink.got.map((n) => [n.event, n.alert.rule, n.alert.key, n.alert.severity])).toEqual([
      ['firing', DEFAULT_ACTUATOR_RULE, 'orders|*|prod', 'critical'],
    ])
    expect(sink.got[0].alert.evidence.summary).toMatch(/spawn nope ENOENT/)
    expect(sink.got[0].alert.evidence.details).toMatchObject({ actuator: 'process', tries: 3 })
    expect(sink.got[0].alert.evidence.links.actions).toBe('http://admin/api/actions?target=service%3Aorders')

    // the same streak again, and a minute of other series' windows: no second page, not stale
    await scaleAlert(t0 + 1_000)
    for (let i = 0; i < 60; i++)
      engine.evaluate({
        series: { service: 'users', route: '*', env: 'prod' },
        key: 'users|*|prod',
        level: 'service',
        point: {
          startMs: t0 + i * 1_000,
          durationMs: 1_000,
          count: 10,
          ratePerSec: 10,
          errorRatio: 0,
          upstreamErrorRatio: 0,
          refused: 0,
          refused5xx: 0,
          limitedRatio: 0,
          timeouts: 0,
          connectErrors: 0,
          statusClass: [0, 10, 0, 0, 0],
          p50: 1,
          p95: 2,
          p99: 3,
        },
        expected: null,
        anomalies: [],
        forecast: null,
      })
    await engine.idle()
    expect(engine.alerts({ state: 'firing' })).toHaveLength(1)
    expect(sink.got).toHaveLength(1)

    // a failed scale is no recovery; one that works resolves it
    const failed = await actions.record({
      kind: 'scale.replicas',
      policy: 'autoscale',
      mode: 'enforce',
      target: 'service:orders',
      reason: 'up',
    })
    await actions.settle(failed, { status: 'failed', detail: 'ENOENT' })
    await engine.idle()
    expect(engine.alerts({ state: 'firing' })).toHaveLength(1)
    const ok = await actions.record({
      kind: 'scale.manual',
      policy: 'admin',
      mode: 'enforce',
      target: 'service:orders',
      reason: 'manual: try again',
    })
    await actions.settle(ok, { status: 'ok' })
    await engine.idle()
    await until(() => sink.got.length === 2)
    expect(sink.got[1].event).toBe('resolved')
    expect(engine.alerts({ state: 'all' })[0]).toMatchObject({ state: 'resolved', resolvedBy: 'recovery' })
    await engine.close()
    await store.close()
  })
})
