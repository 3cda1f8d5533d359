import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { ActionRecord } from '../store/index.js'
import { actionLines } from './action-lines.js'

function logged() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = []
  const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) })
  return { log: actionLines(logger), lines }
}

const rec = (over: Partial<ActionRecord>): ActionRecord => ({
  id: 'a1',
  atMs: Date.parse('2026-12-07T22:41:00Z'),
  kind: 'scale.replicas',
  policy: 'autoscale',
  mode: 'enforce',
  target: 'service:orders',
  before: 2,
  after: 3,
  reason: 'scale up 2 → 3',
  evidence: {
    observed: 300,
    reactiveNeed: 2,
    predictiveNeed: 3,
    forecast: 380,
    upper: 410,
    level: 80,
    model: 'holt-winters',
    aheadMs: 120_000,
    capacity: { perReplica: 150, learned: false },
  },
  result: { status: 'ok' },
  fencingToken: 1,
  ...over,
})

describe('the log lines of scaling actions and alert notifications', () => {
  it('logs an enforced scale with its evidence and outcome, and a shadow decision, at info', () => {
    const { log, lines } = logged()
    log(rec({}))
    log(rec({ id: 'a2', mode: 'shadow', result: { status: 'shadow' } }))
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [
        30,
        'autoscaler: Scaled orders 2 → 3 replicas (forecast: 410 req/s upper band over the next 2 min; observed 300 req/s; 150 req/s per replica)',
      ],
      [
        30,
        'autoscaler: Would have scaled orders 2 → 3 replicas (shadow mode; forecast: 410 req/s upper band over the next 2 min; observed 300 req/s; 150 req/s per replica)',
      ],
    ])
    expect(lines[0]).toMatchObject({
      action: 'a1',
      kind: 'scale.replicas',
      before: 2,
      after: 3,
      status: 'ok',
    })
  })

  it('a failing decision settled again at each window is one warning, and one line when it works', () => {
    const { log, lines } = logged()
    const failed = (n: number) =>
      rec({
        result: {
          status: 'failed',
          detail: n === 1 ? 'HTTP 500' : `failed ${n} times since … (last: HTTP 500)`,
        },
      })
    for (let n = 1; n <= 5; n++) log(failed(n))
    log(rec({ result: { status: 'ok', detail: 'ok after failing 5 times' } }))
    expect(lines.map((l) => l.level)).toEqual([40, 30])
    expect(lines[0].msg).toMatch(/^autoscaler: Failed to scale orders 2 → 3 replicas: HTTP 500 \(forecast/)
    expect(lines[1].msg).toMatch(/^autoscaler: Scaled orders 2 → 3 replicas \(forecast/)
  })

  it('logs each alert notification with where it went; the scaling alert is left to the failure line', () => {
    const { log, lines } = logged()
    const alert = { severity: 'critical', evidence: { summary: '5xx errors 12% (expected ≤ 1%)' } }
    log(
      rec({
        kind: 'alert.firing',
        policy: 'errors',
        target: 'orders|/api|prod',
        after: alert,
        result: { status: 'ok', detail: 'delivered to webhook' },
      }),
    )
    log(
      rec({
        id: 'a2',
        kind: 'alert.resolved',
        policy: 'errors',
        target: 'orders|/api|prod',
        reason: 'resolved: back in band',
        after: { ...alert, latest: { summary: '5xx errors 0.4%' } },
        result: { status: 'failed', detail: 'webhook: HTTP 503 after 3 tries' },
      }),
    )
    log(rec({ id: 'a3', kind: 'scale.alert', reason: 'the actuator failed 3 times' }))
    log(rec({ id: 'a4', kind: 'limits.apply', reason: 'forecast pressure' }))
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [
        30,
        'alert: "errors" (critical) fired on orders /api (prod): 5xx errors 12% (expected ≤ 1%); delivered to webhook',
      ],
      [
        40,
        'alert: "errors" resolved on orders /api (prod): 5xx errors 0.4%; webhook: HTTP 503 after 3 tries',
      ],
    ])
    expect(lines[0]).toMatchObject({ kind: 'alert.firing', rule: 'errors', target: 'orders|/api|prod' })
  })
})
