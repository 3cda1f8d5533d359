import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyRequest } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { anomalyRecord, forecastSignal } from '../../test/helpers/policy-signals.js'
import { RecordingActuator } from '../../test/helpers/recording-actuator.js'
import { MemoryAuditLog } from '../audit.js'
import { limitsSchema } from '../config/limits-schema.js'
import {
  abusiveClientsSchema,
  anomalyPressureSchema,
  forecastPressureSchema,
} from '../config/policies-schema.js'
import { scaleSchema } from '../config/scale-schema.js'
import type { AnomalyRecord } from '../control/anomalies.js'
import { AbusiveClients } from '../control/policies/abusive-clients.js'
import { AnomalyPressure } from '../control/policies/anomaly-pressure.js'
import { PolicyEngine, type PolicyActionInput } from '../control/policies/engine.js'
import { ForecastPressure } from '../control/policies/forecast-pressure.js'
import type { LimitPolicy, PolicySignal } from '../control/policies/policy.js'
import { Limiter } from '../limits/limiter.js'
import { MemoryLimitStore } from '../limits/memory.js'
import { FileStateBackend } from '../limits/state.js'
import { Autoscaler, type ScaleActionInput } from '../scale/autoscaler.js'
import { recordAdminChange } from './admin-audit.js'
import { ActivityLog, actionActivity, anomalyActivity, auditActivity } from './activity.js'
import { scalingRoutes } from './routes/scaling.js'
import { actionSummary, auditSummary, fmtSpan, seriesWords, type ActionWords } from './activity-words.js'

const S = 1_000
const M = 60_000
const T0 = Date.parse('2026-12-07T10:00:00Z')

type Recorded = ActionWords & { atMs?: number }

/**
 * The autoscaler as the control plane runs it, on a manual clock with 1-minute windows and a
 * 1-minute lead time; the action log keeps each record with its outcome, as ActionLog does.
 */
function autoscaling(
  o: {
    mode?: 'enforce' | 'shadow'
    running?: number
    min?: number
    rate?: number
    /** the forecast's point and upper band over the next windows (null: none yet) */
    forecast?: { point: number; upper: number } | null
    fail?: Error
  } = {},
) {
  const clock = { t: T0 }
  const actuator = new RecordingActuator(o.running ?? 1, clock)
  if (o.fail !== undefined) {
    const err = o.fail
    actuator.scaleTo = async () => Promise.reject(err)
  }
  const records: Recorded[] = []
  /** each record's sentence when it was written, before its outcome */
  const recorded: string[] = []
  const scaler = new Autoscaler({
    services: {
      users: scaleSchema.parse({
        mode: o.mode ?? 'enforce',
        min: o.min ?? 1,
        max: 10,
        capacityPerReplica: 15,
        targetUtilization: 1,
        leadTimeMs: M,
      }),
    },
    actuatorFor: () => (o.mode === 'shadow' ? null : actuator),
    windowMs: M,
    now: () => clock.t,
    observe: async () => ({ atMs: clock.t - M, ratePerSec: o.rate ?? 28 }),
    closedUpTo: async () => clock.t,
    forecast: async () =>
      o.forecast === null || o.forecast === undefined
        ? null
        : {
            model: 'ets(A,A,N)',
            level: 90,
            points: [0, 1].map((k) => ({
              atMs: clock.t + k * M,
              forecast: o.forecast!.point,
              upper: o.forecast!.upper,
            })),
          },
    record: async (input: ScaleActionInput) => {
      records.push({ ...input, result: { status: input.mode === 'shadow' ? 'shadow' : 'pending' } })
      recorded.push(actionSummary(records.at(-1)!))
      return { id: String(records.length), result: { status: 'pending' } }
    },
    settle: async (rec, result) => {
      records[Number(rec.id) - 1].result = { status: result.status, detail: result.detail }
    },
    attempts: 1,
  })
  return { scaler, records, recorded, sentences: () => records.map(actionSummary) }
}

describe('activity sentences: autoscaling', () => {
  it('a scale-up ahead of a forecast names the upper band, how far ahead, the load now and the capacity per replica', async () => {
    const a = autoscaling({ forecast: { point: 33, upper: 41 } })
    await a.scaler.tick()
    expect(a.sentences()).toEqual([
      'Scaled users 1 → 3 replicas (forecast: 41 req/s upper band over the next 2 min; observed 28 req/s; 15 req/s per replica)',
    ])
  })

  it('a scale-up for the load now names the load, not a forecast that asks for less', async () => {
    const a = autoscaling({ rate: 40, forecast: { point: 20, upper: 25 } })
    await a.scaler.tick()
    expect(a.sentences()).toEqual(['Scaled users 1 → 3 replicas (observed 40 req/s; 15 req/s per replica)'])
  })

  it('in shadow mode it says what it would have done', async () => {
    const a = autoscaling({ mode: 'shadow', forecast: { point: 33, upper: 41 } })
    await a.scaler.tick()
    expect(a.sentences()).toEqual([
      'Would have scaled users 1 → 3 replicas (shadow mode; forecast: 41 req/s upper band over the next 2 min; observed 28 req/s; 15 req/s per replica)',
    ])
  })

  it('a failed scale says what failed, and so does the scaling alert it raises', async () => {
    const a = autoscaling({ rate: 40, fail: new Error('docker: no such image vigil/users:9') })
    await a.scaler.tick()
    expect(a.sentences()).toEqual([
      'Failed to scale users 1 → 3 replicas: docker: no such image vigil/users:9 (observed 40 req/s; 15 req/s per replica)',
      'Scaling users is failing: the actuator failed 1 time (retried with backoff): docker: no such image vigil/users:9',
    ])
  })

  it('a scale-up reads as under way until the actuator is done', async () => {
    const a = autoscaling({ rate: 40 })
    await a.scaler.tick()
    expect(a.recorded).toEqual(['Scaling users 1 → 3 replicas (observed 40 req/s; 15 req/s per replica)'])
    expect(a.sentences()).toEqual(['Scaled users 1 → 3 replicas (observed 40 req/s; 15 req/s per replica)'])
  })

  it('the scale-up to min at start says min, whatever the load', async () => {
    const a = autoscaling({ running: 0, min: 2, rate: 0 })
    await a.scaler.tick()
    expect(a.sentences()[0]).toBe('Scaled users 0 → 2 replicas (min is 2; none running)')
    // as a record written before that one carried evidence reads
    expect(actionSummary({ ...a.records[0], evidence: null })).toBe(
      'Scaled users 0 → 2 replicas: below min 2 (0 running)',
    )
  })

  it('a capacity learned from the traffic says so', async () => {
    const a = autoscaling({ rate: 40 })
    await a.scaler.tick()
    const [rec] = a.records
    const learned = { ...(rec.evidence as object), capacity: { perReplica: 12.5, learned: true } }
    expect(actionSummary({ ...rec, evidence: learned })).toBe(
      'Scaled users 1 → 3 replicas (observed 40 req/s; 12.5 req/s per replica (learned))',
    )
  })

  it('an operator’s scale and restart say so, with their reason', async () => {
    const a = autoscaling({ rate: 20 })
    await a.scaler.scale('users', 4, 'launch at noon')
    await a.scaler.restart('users', '')
    expect(a.sentences()).toEqual([
      'Scaled users 1 → 4 replicas by hand (launch at noon)',
      'Restarted users, 4 replicas one at a time',
    ])
  })

  it('replicas adopted after a takeover, a stalled actuator and its recovery read as sentences', () => {
    const base = { policy: 'autoscale', mode: 'enforce', target: 'service:users', result: { status: 'ok' } }
    expect(
      actionSummary({
        ...base,
        kind: 'scale.adopt',
        policy: 'adopt',
        before: 0,
        after: 2,
        reason:
          'replicas left running by a control plane that ended without stopping them: adopted 2 (r1, r2)',
        evidence: {
          actuator: 'process',
          adopted: ['r1', 'r2'],
          stopped: [{ id: 'r3', reason: 'unhealthy' }],
        },
      }),
    ).toBe(
      'Took over the replicas of users left running by an earlier control plane (adopted 2; stopped r3: unhealthy; 0 → 2 replicas)',
    )
    expect(
      actionSummary({
        ...base,
        kind: 'scale.recovered',
        reason: 'actuator docker works again',
        before: 2,
        after: 2,
      }),
    ).toBe('Scaling users works again (actuator docker works again)')
  })
})

/** A limiter as a gateway runs it, its audit log in memory. */
function limiter() {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-words-'))
  const audit = new MemoryAuditLog()
  let now = T0
  const l = new Limiter(
    {
      limits: limitsSchema.parse({
        enabled: true,
        dataDir: dir,
        tiers: { STD: { ratePerSec: 5, burst: 10 }, PRM: { ratePerSec: 50, burst: 100 } },
      }),
      services: ['payments', 'shop'],
      keyPrefix: 'rl:',
    },
    {
      store: new MemoryLimitStore(),
      state: new FileStateBackend(join(dir, 'limits-state.json')),
      audit,
      clock: () => now,
    },
  )
  return { l, audit, at: (t: number) => (now = t) }
}

const open: Limiter[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()))
})

/** The policy engine with real policies, applying to a real limiter; every action recorded. */
function policies(policy: LimitPolicy, o: { controls?: boolean } = {}) {
  const lim = limiter()
  open.push(lim.l)
  let now = T0
  const records: Recorded[] = []
  const engine = new PolicyEngine({
    policies: [policy],
    controls: o.controls === false ? null : lim.l,
    actions: {
      async act(input: PolicyActionInput, apply: () => Promise<unknown>) {
        const rec: Recorded = { ...input, result: { status: input.mode === 'shadow' ? 'shadow' : 'ok' } }
        records.push(rec)
        if (input.mode === 'enforce')
          await apply().catch((err: Error) => (rec.result = { status: 'failed', detail: err.message }))
        return rec
      },
    },
    now: () => now,
  })
  return {
    records,
    audit: lim.audit,
    async at(t: number, signal?: PolicySignal) {
      now = t
      lim.at(t)
      if (signal !== undefined) engine.signal(signal)
      await engine.run()
    },
  }
}

/** An open anomaly as the detectors report the demo's error bursts. */
const anomaly = (over: Partial<AnomalyRecord> & { key: string }): AnomalyRecord =>
  anomalyRecord({
    openedAtMs: T0,
    observed: 8,
    expected: 0.0962,
    low: -1,
    high: 1.15,
    score: 1,
    detector: 'poisson',
    ...over,
  })

/** The demo's scraper, flagged for its request count. */
const scraper = () =>
  anomaly({
    key: 'client:scraper-std',
    id: 'client:scraper-std#client#0',
    level: 'client',
    metric: 'client',
    detector: 'client-outliers',
    children: [{ key: 'requests', share: 1, observed: 21, expected: 1 }],
  })

const anomalyPressure = () =>
  new AnomalyPressure(anomalyPressureSchema.parse({ mode: 'enforce', holdMs: 30 * S, ttlMs: 5 * M }))
const abusiveClients = () =>
  new AbusiveClients(abusiveClientsSchema.parse({ mode: 'enforce', holdMs: M, ttlMs: 4 * M }))

const forecast = (service: string, upper: number, atMs: number) =>
  forecastSignal(service, upper, atMs, 'demo')

describe('activity sentences: adaptive limits', () => {
  const fp = (mode: 'enforce' | 'shadow' = 'enforce') =>
    new ForecastPressure(
      forecastPressureSchema.parse({ mode, lookaheadMs: M, holdMs: M, ttlMs: 5 * M, staleMs: 2 * M }),
      { payments: { ratePerSec: 25 } },
    )

  it('forecast pressure: lowered, tightened, relaxed and lifted, each with the forecast against the budget', async () => {
    const p = policies(fp())
    await p.at(T0, forecast('payments', 30, T0))
    await p.at(T0 + 10 * S, forecast('payments', 79.4, T0 + 10 * S))
    // down one step at a time, each after a minute of the hold
    for (const [t, upper] of [
      [2, 5],
      [3, 5],
      [4, 5],
      [5, 5],
      [6, 5],
    ])
      await p.at(T0 + t * M, forecast('payments', upper, T0 + t * M))
    expect(p.records.map(actionSummary)).toEqual([
      'Lowered limits on payments: STD ×0.5, low ×0.5 (forecast: 30 req/s upper band within 1 min against a budget of 25 req/s; step 1 of 3)',
      'Tightened limits on payments: STD ×0.1, low ×0.1, normal ×0.25 (forecast: 79.4 req/s upper band within 1 min against a budget of 25 req/s; step 3 of 3)',
      'Relaxed limits on payments: STD ×0.25, low ×0.25, normal ×0.5 (forecast: 5 req/s upper band within 1 min against a budget of 25 req/s; step 2 of 3)',
      'Relaxed limits on payments: STD ×0.5, low ×0.5 (forecast: 5 req/s upper band within 1 min against a budget of 25 req/s; step 1 of 3)',
      'Lifted the limits on payments (forecast: 5 req/s upper band within 1 min against a budget of 25 req/s)',
    ])
    // the same changes in the audit log, said by the policy that made them, without its long reason
    expect(p.audit.events.map((e) => auditSummary(e)).slice(0, 2)).toEqual([
      'The forecast-pressure policy changed the limit controls: payments STD ×0.5, payments low ×0.5 until 10:05:00 UTC',
      'The forecast-pressure policy changed the limit controls: payments STD ×0.1, payments low ×0.1, payments normal ×0.25 until 10:05:10 UTC',
    ])
    expect(auditSummary(p.audit.events.at(-1)!)).toBe(
      'The forecast-pressure policy changed the limit controls: payments STD ×0.5 lifted, payments low ×0.5 lifted',
    )
  })

  it('in shadow mode it says what it would have done; with no limiter to apply it to, that it failed', async () => {
    const shadow = policies(fp('shadow'))
    await shadow.at(T0, forecast('payments', 30, T0))
    expect(shadow.records.map(actionSummary)).toEqual([
      'Would have lowered limits on payments: STD ×0.5, low ×0.5 (shadow mode; forecast: 30 req/s upper band within 1 min against a budget of 25 req/s; step 1 of 3)',
    ])
    const none = policies(fp(), { controls: false })
    await none.at(T0, forecast('payments', 30, T0))
    expect(none.records.map(actionSummary)).toEqual([
      'Failed to lower limits on payments: STD ×0.5, low ×0.5: no limiter to apply it to (limits.enabled is false here) (forecast: 30 req/s upper band within 1 min against a budget of 25 req/s; step 1 of 3)',
    ])
  })

  it('anomaly pressure: defensive mode on with the anomaly behind it, and off after the hold', async () => {
    const p = policies(anomalyPressure())
    const a = anomaly({ key: 'shop|browse|demo' })
    await p.at(T0, { kind: 'anomaly.opened', anomaly: a })
    await p.at(T0 + 10 * S, { kind: 'anomaly.opened', anomaly: anomaly({ key: 'shop|*|demo', score: 0.8 }) })
    await p.at(T0 + M, { kind: 'anomaly.resolved', id: a.id })
    await p.at(T0 + M, { kind: 'anomaly.resolved', id: anomaly({ key: 'shop|*|demo' }).id })
    await p.at(T0 + 2 * M)
    expect(p.records.map(actionSummary)).toEqual([
      'Turned defensive mode on for shop (anomaly on shop browse (demo): 8 errors, expected 0.0962 errors (band 0–1.15 errors), score 1.00)',
      'Turned defensive mode off for shop (no traffic or error anomaly open on shop for 30s)',
    ])
    expect(p.audit.events.map((e) => auditSummary(e))).toEqual([
      'The anomaly-pressure policy changed the limit controls: shop defensive mode on until 10:05:00 UTC',
      'The anomaly-pressure policy changed the limit controls: shop defensive mode off',
    ])
  })

  it('abusive clients: limited with what stands out, renewed, and lifted', async () => {
    const p = policies(abusiveClients())
    const a = scraper()
    await p.at(T0, { kind: 'anomaly.opened', anomaly: a })
    await p.at(T0 + 2 * M)
    await p.at(T0 + 3 * M, { kind: 'anomaly.resolved', id: a.id })
    await p.at(T0 + 4 * M)
    expect(p.records.map(actionSummary)).toEqual([
      'Limited client scraper-std to ×0.1 of its limit on every service (21 requests against a typical 1 request; score 1.00)',
      'Renewed the limit of client scraper-std: ×0.1 on every service (21 requests against a typical 1 request; score 1.00)',
      'Lifted the limits on client scraper-std (client scraper-std no longer stands out for 1m)',
    ])
    expect(auditSummary(p.audit.events[1])).toBe(
      'The abusive-clients policy renewed the limit controls: client scraper-std ×0.1 until 10:06:00 UTC',
    )
  })
})

describe('activity sentences: anomalies', () => {
  const opened = (over: Partial<AnomalyRecord> & { key: string }) => anomalyActivity(anomaly(over), 'opened')
  const resolved = (over: Partial<AnomalyRecord> & { key: string }) =>
    anomalyActivity(anomaly({ resolvedAtMs: T0 + M, state: 'resolved', ...over }), 'resolved')

  it('name the series as the rest of the list does, as sentences, with the record’s kind, subject and severity', () => {
    expect(opened({ key: 'shop|*|demo', score: 0.68 })).toMatchObject({
      kind: 'anomaly.opened',
      actor: 'control',
      subject: 'shop|*|demo',
      severity: 'warning',
      atMs: T0,
    })
    expect(resolved({ key: 'shop|*|demo' })).toMatchObject({
      kind: 'anomaly.resolved',
      subject: 'shop|*|demo',
      severity: 'info',
      atMs: T0 + M,
    })
    expect(opened({ key: 'shop|browse|demo' }).summary).toBe(
      'Anomaly on shop browse (demo): 8 errors, expected 0.0962 errors (band 0–1.15 errors), score 1.00',
    )
    expect(opened({ key: 'payments|*|prod', score: 0.68 }).summary).toBe(
      'Anomaly on payments (prod): 8 errors, expected 0.0962 errors (band 0–1.15 errors), score 0.68',
    )
    // a sustained excess: its values are over its windows, so one error in the latest reads right
    expect(
      opened({
        key: 'shop|browse|demo',
        score: 0.78,
        observed: 12,
        expected: 0.4,
        low: 0,
        high: 2.3,
        detector: 'count-cusum',
        sustained: { windows: 9, expected: 0.044, low: 0, high: 0.67 },
      }).summary,
    ).toBe(
      'Anomaly on shop browse (demo): 12 errors over the last 9 windows, expected 0.4 errors (band 0–2.3 errors), score 0.78',
    )
    expect(opened({ key: '*|*|*', level: 'global', metric: 'joint' }).summary).toBe(
      'Anomaly on all traffic: rate, errors and latency together are unusual, score 1.00',
    )
    expect(resolved({ key: 'payments|/api/pay|prod' }).summary).toBe(
      'Resolved: 5xx errors on payments /api/pay (prod) are back in their band',
    )
    expect(resolved({ key: '*|*|demo', level: 'global', metric: 'p95' }).summary).toBe(
      'Resolved: p95 on all services (demo) is back in its band',
    )
    expect(resolved({ key: 'shop|*|demo', metric: 'joint' }).summary).toBe(
      'Resolved: rate, errors and latency on shop (demo) are usual again',
    )
    expect(
      resolved({
        key: 'shop|/cart|demo',
        metric: 'p99',
        resolvedBy: 'unjudgeable',
        resolution: 'too few requests to judge p99 for 10 windows (12 in the last window; 100 needed)',
      }).summary,
    ).toBe(
      'Resolved: p99 on shop /cart (demo): too few requests to judge p99 for 10 windows (12 in the last window; 100 needed)',
    )
  })

  it('an abusive client by its name, with what stands out', () => {
    const client = {
      key: 'client:scraper-std',
      level: 'client' as const,
      metric: 'client',
      children: [{ key: 'errorRatio', share: 1, observed: 0.732, expected: 0.227 }],
    }
    expect(opened(client).summary).toBe(
      'Abusive client scraper-std: refused at its own limit or failed 73.2% against a typical 22.7%, score 1.00',
    )
    expect(opened({ ...client, children: [] }).summary).toBe(
      'Abusive client scraper-std: stands out from its peers, score 1.00',
    )
    expect(resolved(client).summary).toBe('Resolved: client scraper-std no longer stands out from its peers')
  })
})

describe('the activity list: a policy’s limit change told once', () => {
  /**
   * The policies acting on a real limiter, its audit events and the actions in an activity list
   * in the order they reach it: the limiter audits a change as it applies it, the action follows
   * once its outcome is recorded (followActions).
   */
  function listed(policy: LimitPolicy, echoWaitMs = 45_000) {
    const p = policies(policy)
    const list = new ActivityLog(200, echoWaitMs)
    let audits = 0
    let actions = 0
    return {
      p,
      list,
      lines: () =>
        list
          .recent(200)
          .map((e) => `${e.actor}: ${e.summary}`)
          .reverse(),
      async at(t: number, signal?: PolicySignal) {
        await p.at(t, signal)
        for (const e of p.audit.events.slice(audits)) list.push(auditActivity(e))
        for (const a of p.records.slice(actions)) list.push(actionActivity({ ...a, atMs: a.atMs ?? t }))
        audits = p.audit.events.length
        actions = p.records.length
      },
    }
  }

  it('anomaly pressure: the action alone, not the audited change it made', async () => {
    const l = listed(anomalyPressure())
    const a = anomaly({ key: 'shop|browse|demo' })
    await l.at(T0, { kind: 'anomaly.opened', anomaly: a })
    await l.at(T0 + M, { kind: 'anomaly.resolved', id: a.id })
    await l.at(T0 + 2 * M)
    expect(l.p.audit.events).toHaveLength(2)
    expect(l.lines()).toEqual([
      'anomaly-pressure: Turned defensive mode on for shop (anomaly on shop browse (demo): 8 errors, expected 0.0962 errors (band 0–1.15 errors), score 1.00)',
      'anomaly-pressure: Turned defensive mode off for shop (no traffic or error anomaly open on shop for 30s)',
    ])
  })

  it('forecast pressure on two services and abusive clients: each change once', async () => {
    const fp = listed(
      new ForecastPressure(
        forecastPressureSchema.parse({
          mode: 'enforce',
          lookaheadMs: M,
          holdMs: M,
          ttlMs: 5 * M,
          staleMs: 2 * M,
        }),
        { payments: { ratePerSec: 25 }, shop: { ratePerSec: 25 } },
      ),
    )
    await fp.at(T0, forecast('payments', 30, T0))
    await fp.at(T0, forecast('shop', 30, T0))
    expect(fp.lines()).toEqual([
      'forecast-pressure: Lowered limits on payments: STD ×0.5, low ×0.5 (forecast: 30 req/s upper band within 1 min against a budget of 25 req/s; step 1 of 3)',
      'forecast-pressure: Lowered limits on shop: STD ×0.5, low ×0.5 (forecast: 30 req/s upper band within 1 min against a budget of 25 req/s; step 1 of 3)',
    ])
    const ac = listed(abusiveClients())
    const flagged = scraper()
    await ac.at(T0, { kind: 'anomaly.opened', anomaly: flagged })
    await ac.at(T0 + 2 * M)
    expect(ac.p.audit.events).toHaveLength(2)
    expect(ac.lines()).toEqual([
      'abusive-clients: Limited client scraper-std to ×0.1 of its limit on every service (21 requests against a typical 1 request; score 1.00)',
      'abusive-clients: Renewed the limit of client scraper-std: ×0.1 on every service (21 requests against a typical 1 request; score 1.00)',
    ])
  })

  it('an operator’s change is told at once, beside the policy’s', async () => {
    const l = listed(anomalyPressure())
    await l.at(T0, { kind: 'anomaly.opened', anomaly: anomaly({ key: 'shop|*|demo' }) })
    // the same change by hand, with the policy's own words as its reason
    const [policyMade] = l.p.audit.events
    await l.p.at(T0 + S)
    l.list.push(auditActivity({ ...policyMade, actor: 'alice', at: new Date(T0 + S).toISOString() }))
    expect(l.lines()).toEqual([
      'anomaly-pressure: Turned defensive mode on for shop (anomaly on shop (demo): 8 errors, expected 0.0962 errors (band 0–1.15 errors), score 1.00)',
      `alice: alice changed the limit controls: shop defensive mode on until 10:05:00 UTC (${policyMade.reason})`,
    ])
  })

  it('an echo whose action comes first is dropped too; one whose action never comes is told after a wait', async () => {
    const list = new ActivityLog(200, 30)
    const action = {
      kind: 'limits.apply',
      policy: 'anomaly-pressure',
      mode: 'enforce',
      target: 'service:shop',
      reason: '5xx errors anomaly on shop|*|demo: defensive mode on shop',
      after: { 'services.shop.defensive': true },
      result: { status: 'ok' },
      atMs: T0,
    }
    const echo = (at: number, reason = action.reason) =>
      auditActivity({
        at: new Date(at).toISOString(),
        kind: 'limits.controls.set',
        actor: 'control:anomaly-pressure',
        subject: 'controls:shop',
        reason,
        before: {},
        after: { services: { shop: { defensive: true } } },
      })
    list.push(actionActivity(action))
    expect(list.push(echo(T0 + 100))).toBeNull()
    // not the echo of that action: another reason, or long after it
    list.push(echo(T0 + 200, 'an operator-like reason'))
    list.push(echo(T0 + 5 * M))
    expect(list.recent().map((e) => e.kind)).toEqual(['limits.apply'])
    await new Promise((r) => setTimeout(r, 80))
    expect(list.recent().map((e) => [e.kind, e.actor])).toEqual([
      ['limits.controls.set', 'control:anomaly-pressure'],
      ['limits.controls.set', 'control:anomaly-pressure'],
      ['limits.apply', 'anomaly-pressure'],
    ])
  })
})

describe('the activity list: an operator’s scale or restart told once', () => {
  /**
   * The scaling routes on a real autoscaler (manual clock) and audit log, as `vigil control` runs
   * them; each record reaches the list as it does there: the audit event through the audit log,
   * the action through followActions (with its id).
   */
  async function operated(o: Parameters<typeof autoscaling>[0] = {}) {
    const a = autoscaling(o)
    const audit = new MemoryAuditLog()
    const app = Fastify()
    await app.register(scalingRoutes({ autoscaler: a.scaler, services: ['users'], audit }))
    const post = (what: string, payload: object) =>
      app.inject({
        method: 'POST',
        url: `/api/services/users/${what}`,
        headers: { 'x-vigil-actor': 'alice' },
        payload,
      })
    const audits = () => audit.events.map((e) => auditActivity(e))
    const actions = () => a.records.map((r, i) => actionActivity({ ...r, id: String(i + 1), atMs: T0 }))
    const lines = (list: ActivityLog) =>
      list
        .recent(200)
        .map((e) => `${e.actor}: ${e.summary} [${e.severity}]`)
        .reverse()
    return { a, app, post, audits, actions, lines }
  }

  const told = [
    'alice: alice scaled users 1 → 4 replicas (launch at noon) [info]',
    'alice: alice restarted users (new image) [info]',
  ]

  it('as the audit event, with the operator and reason, the action arriving after it', async () => {
    const o = await operated({ rate: 20 })
    expect((await o.post('scale', { replicas: 4, reason: 'launch at noon' })).statusCode).toBe(200)
    expect((await o.post('restart', { reason: 'new image' })).statusCode).toBe(200)
    const list = new ActivityLog()
    for (const e of [...o.audits(), ...o.actions()]) list.push(e)
    expect(o.lines(list)).toEqual(told)
    await o.app.close()
  })

  it('the same when the action arrives first; an action with no audit event is told after a wait', async () => {
    const o = await operated({ rate: 20 })
    await o.post('scale', { replicas: 4, reason: 'launch at noon' })
    await o.post('restart', { reason: 'new image' })
    const list = new ActivityLog(200, 30)
    for (const e of o.actions()) expect(list.push(e)).toBeNull()
    for (const e of o.audits()) list.push(e)
    // a restart's audit event comes when it ends, minutes after the action may have been recorded
    const late = new ActivityLog(200, 30)
    late.push(o.actions()[1])
    late.push({ ...o.audits()[1], atMs: T0 + 10 * M })
    const lone = new ActivityLog(200, 30)
    lone.push(o.actions()[0])
    expect(lone.recent()).toEqual([])
    await new Promise((r) => setTimeout(r, 80))
    expect(o.lines(list)).toEqual(told)
    expect(o.lines(late)).toEqual([told[1]])
    expect(o.lines(lone)).toEqual(['admin: Scaled users 1 → 4 replicas by hand (launch at noon) [info]'])
    await o.app.close()
  })

  it('a failed scale, once, with what failed, beside the scaling alert it raises', async () => {
    const o = await operated({ rate: 20, fail: new Error('docker: no such image vigil/users:9') })
    expect((await o.post('scale', { replicas: 4, reason: 'launch at noon' })).statusCode).toBe(502)
    for (const order of [
      [...o.audits(), ...o.actions()],
      [...o.actions(), ...o.audits()],
    ]) {
      const list = new ActivityLog()
      for (const e of order) list.push(e)
      expect(o.lines(list).sort()).toEqual([
        'alice: alice asked to scale users 1 → 4 replicas; it failed: docker: no such image vigil/users:9 (launch at noon) [warning]',
        'autoscale: Scaling users is failing: the actuator failed 1 time (retried with backoff): docker: no such image vigil/users:9 [warning]',
      ])
    }
    await o.app.close()
  })
})

/** Alert records as the alert engine writes them (from a `vigil demo` run), the alert trimmed to what is read. */
function alertRecord(kind: string, over: Record<string, unknown> = {}, mode = 'enforce'): ActionWords {
  return {
    kind,
    policy: 'errors',
    mode,
    target: 'shop|*|demo',
    before: { state: kind === 'alert.firing' ? 'pending' : 'firing' },
    after: {
      rule: 'errors',
      severity: 'critical',
      key: 'shop|*|demo',
      state: kind === 'alert.resolved' ? 'resolved' : 'firing',
      resolvedBy: kind === 'alert.resolved' ? 'recovery' : null,
      evidence: {
        summary:
          'error ratio 50% (8 of 16 sent upstream; 10 answered by the gateway itself left out) > 9.09% (p99 of 116 windows, floor 5%); P(≥ 8 errors | baseline 0.462%) is under 1 in a billion',
      },
      latest: { summary: 'error ratio 0% ≤ floor 5%' },
      ...over,
    },
    reason:
      kind === 'alert.resolved'
        ? 'resolved: error ratio 0% ≤ floor 5%'
        : 'error ratio 50% (8 of 16 sent upstream; 10 answered by the gateway itself left out) > 9.09% (p99 of 116 windows, floor 5%); P(≥ 8 errors | baseline 0.462%) is under 1 in a billion',
    evidence: {},
    result: { status: mode === 'shadow' ? 'shadow' : 'ok' },
  }
}

describe('activity sentences: alerts', () => {
  it('firing, still firing and resolved, with the rule, its severity, where and why', () => {
    expect(actionSummary(alertRecord('alert.firing'))).toBe(
      'Alert "errors" (critical) fired on shop (demo): error ratio 50% (8 of 16 sent upstream; 10 answered by the gateway itself left out) > 9.09% (p99 of 116 windows, floor 5%); P(≥ 8 errors | baseline 0.462%) is under 1 in a billion',
    )
    expect(actionSummary(alertRecord('alert.repeat'))).toMatch(
      /^Alert "errors" \(critical\) still firing on shop \(demo\): error ratio 50%/,
    )
    expect(actionSummary(alertRecord('alert.resolved'))).toBe(
      'Alert "errors" resolved on shop (demo): error ratio 0% ≤ floor 5%',
    )
    expect(actionSummary(alertRecord('alert.resolved', { resolvedBy: 'stale' }))).toBe(
      'Alert "errors" resolved on shop (demo): no traffic to judge',
    )
  })

  it('in shadow mode it says nothing was sent', () => {
    expect(actionSummary(alertRecord('alert.firing', {}, 'shadow'))).toMatch(
      /^Alert "errors" \(critical\) fired on shop \(demo\) \(shadow mode: not sent\): error ratio 50%/,
    )
  })

  it('names routes, environments and the roll-ups over all services', () => {
    expect(seriesWords('payments|/api/pay|prod')).toBe('payments /api/pay (prod)')
    expect(seriesWords('payments|*|*')).toBe('payments')
    expect(seriesWords('*|*|prod')).toBe('all services (prod)')
    expect(seriesWords('*|*|*')).toBe('all traffic')
    expect(seriesWords('client:acme')).toBe('client:acme')
  })
})

describe('activity sentences: admin changes', () => {
  const meta = { actor: 'alice', reason: 'launch day' }

  it('tiers and API keys: what changed, from what to what', async () => {
    const { l, audit } = limiter()
    open.push(l)
    await l.setTier('STD', { ratePerSec: 10, burst: 20 }, meta)
    await l.setTier('GOLD', { ratePerSec: 100, burst: 200 }, { actor: 'alice', reason: '' })
    await l.setTier('GOLD', { ratePerSec: 100, burst: 200 }, { actor: 'alice', reason: '' })
    await l.createKey({ id: 'acme-1', tier: 'STD', ratePerSec: 8 }, meta)
    await l.updateKey('acme-1', { tier: 'PRM', ratePerSec: null }, meta)
    await l.revokeKey('acme-1', { actor: 'dashboard', reason: '' })
    expect(audit.events.map((e) => auditSummary(e))).toEqual([
      'alice set tier STD to 10 req/s, burst 20 (was 5 req/s, burst 10; launch day)',
      'alice created tier GOLD: 100 req/s, burst 200',
      'alice set tier GOLD to 100 req/s, burst 200 (unchanged)',
      'alice created API key acme-1 on tier STD (own rate 8 req/s; launch day)',
      "alice changed API key acme-1: tier STD → PRM, rate 8 req/s → its tier's rate (launch day)",
      'dashboard revoked API key acme-1',
    ])
  })

  it('limit controls set by hand, until when, and cleared', async () => {
    const { l, audit } = limiter()
    open.push(l)
    await l.setControls({ service: 'shop', tiers: { STD: 0.5 }, defensive: true, ttlMs: 30 * M }, meta)
    await l.setControls({ clients: { scraper: 0.1 } }, { actor: 'bob', reason: '' })
    await l.clearControls({ actor: 'alice', reason: 'incident over' })
    expect(audit.events.map((e) => auditSummary(e))).toEqual([
      'alice changed the limit controls: shop STD ×0.5, shop defensive mode on until 10:30:00 UTC (launch day)',
      'bob changed the limit controls: client scraper ×0.1',
      'alice cleared every limit control (client scraper ×0.1 lifted, shop STD ×0.5 lifted, shop defensive mode off; incident over)',
    ])
  })

  it('scaling, restarts, reloads, silences and acknowledgements through the admin API', () => {
    const audit = new MemoryAuditLog()
    const silence = {
      id: 'sil-1',
      matchers: [
        { name: 'service', value: 'payments', isRegex: false, isEqual: true },
        { name: 'env', value: 'prod|staging', isRegex: true, isEqual: true },
      ],
      startsAtMs: T0,
      endsAtMs: T0 + 2 * 3_600_000,
      createdBy: 'alice',
      comment: 'planned maintenance',
    }
    // the changes as the admin routes record them (src/api/routes/*.ts): [kind, subject, before, after, reason, actor]
    const changes: [string, string, unknown, unknown, string | undefined, string?][] = [
      [
        'scale.manual',
        'users',
        { replicas: 2 },
        { replicas: 4, requested: 4, status: 'ok', action: 'a1' },
        'launch at noon',
      ],
      [
        'scale.manual',
        'users',
        { replicas: 2 },
        { replicas: 2, requested: 5, status: 'failed', action: 'a2' },
        undefined,
        'ops-bot',
      ],
      [
        'scale.restart',
        'users',
        null,
        { status: 'failed', action: 'a3', detail: 'replica r2 never became healthy' },
        undefined,
      ],
      [
        'config.reload',
        'config',
        null,
        {
          routes: 3,
          changed: ['routes[1].service', 'limits.tiers.STD.ratePerSec'],
          restartRequired: ['gateway.port'],
        },
        undefined,
      ],
      ['config.reload', 'config', null, { routes: 3, changed: [], restartRequired: [] }, undefined],
      ['alerts.silence.create', 'sil-1', null, silence, silence.comment, 'alice'],
      ['alerts.silence.delete', 'sil-1', silence, null, undefined],
      ['alerts.ack', '3fa2c1d0', null, { by: 'alice', comment: 'looking', atMs: T0 }, 'looking', 'alice'],
    ]
    for (const [kind, subject, before, after, reason, actor] of changes)
      recordAdminChange(
        audit,
        { headers: {} } as FastifyRequest,
        { kind, subject, before, after, reason },
        { ...(actor !== undefined ? { actor } : {}), now: () => T0 },
      )
    expect(audit.events.map((e) => auditSummary(e))).toEqual([
      'admin scaled users 2 → 4 replicas (launch at noon)',
      'ops-bot asked to scale users 2 → 5 replicas; it failed',
      'admin asked to restart users; it failed: replica r2 never became healthy',
      'admin reloaded the config (changed routes[1].service, limits.tiers.STD.ratePerSec; gateway.port waits for a restart; 3 routes)',
      'admin reloaded the config (nothing changed; 3 routes)',
      'alice silenced alerts matching service="payments", env=~"prod|staging" for 2 h (planned maintenance)',
      'admin ended silence sil-1 on service="payments", env=~"prod|staging"',
      'alice acknowledged alert 3fa2c1d0 (looking)',
    ])
  })
})

describe('activity sentences: kinds not known here', () => {
  it('an action reads as who did what on what, with its reason and outcome', () => {
    const a = {
      kind: 'limits.multiplier',
      policy: 'forecast-pressure',
      mode: 'enforce',
      target: 'service:orders',
      reason: 'forecast above budget',
    }
    expect(actionSummary({ ...a, result: { status: 'ok' } })).toBe(
      'Forecast-pressure did limits.multiplier on orders (forecast above budget)',
    )
    expect(actionSummary({ ...a, mode: 'shadow', result: { status: 'shadow' } })).toBe(
      'Forecast-pressure would have done limits.multiplier on orders (shadow mode; forecast above budget)',
    )
    expect(
      actionSummary({ ...a, kind: 'cache.purge', result: { status: 'failed', detail: 'timeout' } }),
    ).toBe('Forecast-pressure did cache.purge on orders, which failed: timeout (forecast above budget)')
  })

  it('an audited change reads as who changed what', () => {
    expect(
      auditSummary({
        kind: 'routes.weight',
        actor: 'alice',
        subject: 'r1',
        reason: 'canary',
        before: 1,
        after: 2,
      }),
    ).toBe('alice made a change: routes.weight on r1 (canary)')
  })

  it('spans read in the unit that keeps them short', () => {
    expect([30 * S, 90 * S, 2 * M, 45 * M, 60 * M, 90 * M, 3 * 3_600_000].map(fmtSpan)).toEqual([
      '30 s',
      '1.5 min',
      '2 min',
      '45 min',
      '1 h',
      '1.5 h',
      '3 h',
    ])
  })
})
