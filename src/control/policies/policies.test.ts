import { describe, expect, it } from 'vitest'
import {
  abusiveClientsSchema,
  anomalyPressureSchema,
  forecastPressureSchema,
} from '../../config/policies-schema.js'
import type { ControlsPatch } from '../../limits/index.js'
import { anomalyRecord, forecastSignal } from '../../../test/helpers/policy-signals.js'
import type { AnomalyRecord } from '../anomalies.js'
import { AbusiveClients } from './abusive-clients.js'
import { AnomalyPressure } from './anomaly-pressure.js'
import { PolicyEngine, type PolicyActionInput, type PolicyActionLog } from './engine.js'
import { ForecastPressure } from './forecast-pressure.js'
import { patchFor, Reconciler, type LimitPolicy, type PolicyDecision, type PolicySignal } from './policy.js'

const S = 1000
const M = 60_000

const forecast = forecastSignal
const anomaly = anomalyRecord

/** Runs a policy like the engine in shadow mode: evaluate, plan, confirm; returns the decisions. */
function driver(policy: LimitPolicy) {
  const rec = new Reconciler(policy)
  const all: PolicyDecision[] = []
  return {
    all,
    at(nowMs: number, signal?: PolicySignal): PolicyDecision[] {
      if (signal !== undefined) policy.observe(signal, nowMs)
      const ds = rec.plan(policy.evaluate(nowMs), nowMs)
      for (const d of ds) rec.confirm(d, nowMs)
      all.push(...ds)
      return ds
    },
  }
}

const fp = (over: object = {}) =>
  new ForecastPressure(forecastPressureSchema.parse({ holdMs: 2 * M, ttlMs: 10 * M, ...over }), {
    pay: { ratePerSec: 200 },
  })

describe('forecast pressure', () => {
  it('lowers STD and low-priority classes on the service first, up to the step the pressure reaches, never PRM or critical', () => {
    const d = driver(fp())
    expect(d.at(0, forecast('pay', 150, 0))).toEqual([]) // 0.75 of the budget
    const [first] = d.at(10 * S, forecast('pay', 210, 10 * S))
    expect(first).toMatchObject({
      policy: 'forecast-pressure',
      mode: 'shadow',
      target: 'service:pay',
      action: 'apply',
      state: 'step 1 of 3',
      after: { 'services.pay.tiers.STD': 0.5, 'services.pay.classes.low': 0.5 },
      patch: { service: 'pay', tiers: { STD: 0.5 }, classes: { low: 0.5 }, ttlMs: 10 * M },
      evidence: { service: 'pay', budgetRatePerSec: 200, pressure: 1.05, step: 1 },
    })
    expect(first!.reason).toContain('forecast upper band 210 req/s within 5m vs budget 200 req/s on pay')
    // a jump straight to step 3
    const [third] = d.at(20 * S, forecast('pay', 320, 20 * S))
    expect(third).toMatchObject({ action: 'tighten', state: 'step 3 of 3' })
    expect(JSON.stringify(third!.after)).not.toMatch(/PRM|critical/)
  })

  it('says what the pressure is and tells it apart from a threshold it barely crosses', () => {
    const d = driver(fp())
    const [up] = d.at(0, forecast('pay', 200.1, 0))
    expect(up!.reason).toBe(
      'forecast upper band 200.1 req/s within 5m vs budget 200 req/s on pay; upper band / budget = 1.0005 ≥ 1 (step 1): step 1 of 3, STD ×0.5, low ×0.5',
    )
  })

  it('uses the upper band within the lookahead only', () => {
    const d = driver(fp({ lookaheadMs: 30 * S }))
    // the peak (step 5, 50 s ahead) is beyond a 30 s lookahead: 0.9 × 230 = 207 ≥ 200 still
    expect(d.at(0, forecast('pay', 230, 0))[0]?.evidence).toMatchObject({ upperRatePerSec: 207 })
  })

  it('relaxes one step at a time after the hold time, and only below the relax threshold', () => {
    const d = driver(fp())
    d.at(0, forecast('pay', 320, 0)) // step 3
    // pressure 1.2: below step 3's 1.5 × 0.85 = 1.275, but the step must hold 2 minutes
    expect(d.at(30 * S, forecast('pay', 240, 30 * S))).toEqual([])
    // held 2 minutes, but low only for 90 s
    expect(d.at(2 * M)).toEqual([])
    const [down] = d.at(2 * M + 30 * S)
    expect(down).toMatchObject({ action: 'relax', state: 'step 2 of 3' })
    // what the relax threshold is compared with, and where it comes from
    expect(down!.reason).toBe(
      "forecast upper band 240 req/s within 5m vs budget 200 req/s on pay; upper band / budget = 1.2 < 1.27 (step 3's 1.5 × relaxRatio 0.85) for 2m: step 2 of 3, STD ×0.25, low ×0.25, normal ×0.5",
    )
    // 1.2 is at or above step 2's 1.25 × 0.85 = 1.0625: step 2 holds for as long as that lasts
    expect(d.at(10 * M)).toEqual([expect.objectContaining({ action: 'renew', state: 'step 2 of 3' })])
    d.at(11 * M, forecast('pay', 100, 11 * M)) // 0.5: low from now
    expect(d.at(13 * M - 1)).toEqual([])
    expect(d.at(13 * M)[0]).toMatchObject({ action: 'relax', state: 'step 1 of 3' })
    expect(d.at(15 * M)[0]).toMatchObject({
      action: 'release',
      state: 'step 0 of 3',
      after: {},
      patch: { service: 'pay', tiers: { STD: null }, classes: { low: null } },
    })
    expect(d.at(60 * M)).toEqual([])
  })

  it('never flaps on a signal hovering at the threshold', () => {
    const d = driver(fp())
    // every 10 s a forecast alternating just above and just below the first step, for an hour
    for (let t = 0; t < 60 * M; t += 10 * S) d.at(t, forecast('pay', t % (20 * S) === 0 ? 202 : 198, t))
    const changes = d.all.filter((x) => x.action !== 'renew')
    expect(changes.map((x) => x.action)).toEqual(['apply'])
    // the same around the relax threshold (170 = 200 × 0.85): once applied, it stays
    const e = driver(fp())
    e.at(0, forecast('pay', 210, 0))
    for (let t = 10 * S; t < 60 * M; t += 10 * S) e.at(t, forecast('pay', t % (20 * S) === 0 ? 172 : 168, t))
    expect(e.all.filter((x) => x.action !== 'renew').map((x) => x.action)).toEqual(['apply'])
    // renewals come at half the expiry, not every window
    expect(e.all.filter((x) => x.action === 'renew').length).toBeLessThanOrEqual(12)
  })

  it('relaxes when the forecasts go stale, and adds up the service environments', () => {
    const d = driver(fp({ staleMs: 5 * M, ttlMs: 60 * M }))
    d.at(0, forecast('pay', 120, 0, 'eu'))
    expect(d.at(0, forecast('pay', 90, 0, 'us'))[0]).toMatchObject({ evidence: { upperRatePerSec: 210 } })
    expect(d.at(5 * M)).toEqual([])
    // no forecast for more than 5 minutes: no evidence, pressure 0, relaxed after the hold
    const [off] = d.at(5 * M + 1)
    expect(off).toBeUndefined()
    expect(d.at(7 * M + 1)[0]).toMatchObject({ action: 'release' })
    expect(d.all.at(-1)!.reason).toContain('no forecast of pay newer than 5m')
  })

  it('ignores route forecasts and services without a budget', () => {
    const d = driver(fp())
    const route = forecast('pay', 999, 0)
    if (route.kind === 'forecast') route.forecast.series.route = '/pay'
    expect(d.at(0, route)).toEqual([])
    expect(d.at(0, forecast('other', 999, 0))).toEqual([])
  })
})

describe('anomaly pressure', () => {
  const ap = () =>
    new AnomalyPressure(anomalyPressureSchema.parse({ mode: 'enforce', holdMs: 2 * M, ttlMs: 10 * M }))

  it('turns defensive mode on for the service of an open error anomaly, renews it, and turns it off after the hold', () => {
    const d = driver(ap())
    const a = anomaly({ key: 'pay|/charge|prod' })
    const [on] = d.at(0, { kind: 'anomaly.opened', anomaly: a })
    expect(on).toMatchObject({
      mode: 'enforce',
      action: 'apply',
      target: 'service:pay',
      after: { 'services.pay.defensive': true },
      patch: { service: 'pay', defensive: true, ttlMs: 10 * M },
      evidence: { service: 'pay', anomalies: [{ id: a.id, metric: 'errors', observed: 0.2 }] },
    })
    expect(on!.reason).toBe(
      '5xx errors anomaly on pay|/charge|prod: 0.2 errors, expected 0.01 errors (band 0–0.03 errors), score 0.9, poisson-tail: defensive mode on pay',
    )
    expect(d.at(5 * M)).toEqual([expect.objectContaining({ action: 'renew' })])
    d.at(6 * M, { kind: 'anomaly.resolved', id: a.id })
    expect(d.at(8 * M - 1)).toEqual([])
    expect(d.at(8 * M)[0]).toMatchObject({
      action: 'release',
      patch: { service: 'pay', defensive: false },
    })
  })

  it('ignores traffic drops, other metrics, global and client anomalies', () => {
    const d = driver(ap())
    const sigs: AnomalyRecord[] = [
      anomaly({ key: 'pay|*|prod', metric: 'rate', observed: 5, expected: 100 }),
      anomaly({ key: 'pay|*|prod', metric: 'p99' }),
      anomaly({ key: '*|*|*', level: 'global' }),
      anomaly({ key: 'client:x', level: 'client', metric: 'client' }),
    ]
    for (const a of sigs) expect(d.at(0, { kind: 'anomaly.opened', anomaly: a })).toEqual([])
    expect(
      d.at(1, {
        kind: 'anomaly.opened',
        anomaly: anomaly({ key: 'pay|*|prod', metric: 'rate', observed: 500, expected: 100 }),
      }),
    ).toHaveLength(1)
  })
})

describe('abusive clients', () => {
  const ac = (over: object = {}) =>
    new AbusiveClients(abusiveClientsSchema.parse({ holdMs: 2 * M, ttlMs: 10 * M, ...over }))
  const flagged = (client: string, atMs = 0) =>
    anomaly({
      key: `client:${client}`,
      id: `client:${client}#client#${atMs}`,
      level: 'client',
      metric: 'client',
      detector: 'client-outliers',
      children: [{ key: 'distinctRoutes', share: 1, observed: 40, expected: 1.5 }],
    })

  it('limits the flagged client everywhere with an expiry and lifts it after the hold', () => {
    const d = driver(ac())
    const a = flagged('ip:10.9.9.9')
    const [limit] = d.at(0, { kind: 'anomaly.opened', anomaly: a })
    expect(limit).toMatchObject({
      policy: 'abusive-clients',
      target: 'client:ip:10.9.9.9',
      action: 'apply',
      patch: { clients: { 'ip:10.9.9.9': 0.1 }, ttlMs: 10 * M },
    })
    expect(limit!.patch.service).toBeUndefined()
    expect(limit!.reason).toContain('stands out among its peers: 40 routes against a typical 1.5 routes,')
    d.at(30 * S, { kind: 'anomaly.resolved', id: a.id })
    expect(d.at(2 * M + 30 * S - 1)).toEqual([])
    expect(d.at(2 * M + 30 * S)[0]).toMatchObject({
      action: 'release',
      patch: { clients: { 'ip:10.9.9.9': null } },
    })
  })

  it('leaves exempt clients alone and limits at most maxClients', () => {
    const d = driver(ac({ exempt: ['ops'], maxClients: 1 }))
    expect(d.at(0, { kind: 'anomaly.opened', anomaly: flagged('ops') })).toEqual([])
    expect(d.at(0, { kind: 'anomaly.opened', anomaly: flagged('a') })).toHaveLength(1)
    expect(d.at(0, { kind: 'anomaly.opened', anomaly: flagged('b') })).toEqual([])
  })
})

describe('patchFor', () => {
  it('sets the new entries and removes the ones no longer wanted', () => {
    expect(
      patchFor(
        { 'services.a.tiers.STD': 0.25, 'services.a.classes.normal': 0.5 },
        { 'services.a.tiers.STD': 0.5 },
        1000,
      ),
    ).toEqual({ service: 'a', tiers: { STD: 0.5 }, classes: { normal: null }, ttlMs: 1000 })
    expect(patchFor({}, { 'clients.ip:10.0.0.1': 0.1 }, 5)).toEqual({
      clients: { 'ip:10.0.0.1': 0.1 },
      ttlMs: 5,
    })
  })
})

/** The action log's contract as src/control/actions.ts keeps it: record (refused off the lead), then apply. */
type Logged = PolicyActionInput & { result: { status: string; detail?: string }; fencingToken: number }
function actionLog(leading: () => boolean): PolicyActionLog & { logged: Logged[] } {
  const logged: Logged[] = []
  return {
    logged,
    async act(input, apply) {
      if (!leading()) throw Object.assign(new Error('not the leader'), { code: 'VGL_ERR_CONTROL_NOT_LEADER' })
      const rec: Logged = { ...input, result: { status: 'pending' }, fencingToken: 7 }
      logged.push(rec)
      if (input.mode === 'shadow') rec.result = { status: 'shadow' }
      else
        try {
          await apply()
          rec.result = { status: 'ok' }
        } catch (err) {
          rec.result = { status: 'failed', detail: (err as Error).message }
        }
      return rec
    },
  }
}

describe('policy engine', () => {
  function setup(mode: 'shadow' | 'enforce', opts: { fail?: boolean; leader?: () => boolean } = {}) {
    let now = 0
    const patches: { patch: ControlsPatch; actor: string; reason: string }[] = []
    const leading = opts.leader ?? (() => true)
    const actions = actionLog(leading)
    const engine = new PolicyEngine({
      policies: [fp({ mode })],
      controls: {
        async setControls(patch, meta) {
          if (opts.fail === true) throw new Error('state store unavailable')
          patches.push({ patch, ...meta })
        },
      },
      actions,
      leadership: {
        get leading() {
          return leading()
        },
      },
      now: () => now,
      retryMs: 5 * S,
    })
    return { engine, patches, actions: actions.logged, at: (t: number) => (now = t) }
  }

  it("says which services its enforced limits tighten (their 429s are Vigil's own), never in shadow mode", async () => {
    for (const mode of ['enforce', 'shadow'] as const) {
      const { engine } = setup(mode)
      expect(engine.tightens('pay')).toBe(false)
      engine.signal(forecast('pay', 220, 0))
      await engine.run()
      expect([engine.tightens('pay'), engine.tightens('*'), engine.tightens('orders')]).toEqual(
        mode === 'enforce' ? [true, true, false] : [false, false, false],
      )
    }
  })

  it('enforces through setControls as control:<policy> with the evidence as reason, and records the action', async () => {
    const { engine, patches, actions } = setup('enforce')
    engine.signal(forecast('pay', 220, 0))
    await engine.run()
    expect(patches).toEqual([
      {
        patch: { service: 'pay', tiers: { STD: 0.5 }, classes: { low: 0.5 }, ttlMs: 10 * M },
        actor: 'control:forecast-pressure',
        reason: expect.stringContaining('budget 200 req/s on pay'),
      },
    ])
    expect(actions).toEqual([
      expect.objectContaining({
        kind: 'limits.apply',
        policy: 'forecast-pressure',
        mode: 'enforce',
        target: 'service:pay',
        result: { status: 'ok' },
        evidence: expect.objectContaining({ pressure: 1.1, state: 'step 1 of 3' }),
      }),
    ])
  })

  it('in shadow mode changes nothing and records what it would have done', async () => {
    const { engine, patches, actions } = setup('shadow')
    engine.signal(forecast('pay', 220, 0))
    await engine.run()
    expect(patches).toEqual([])
    expect(actions).toEqual([
      expect.objectContaining({
        mode: 'shadow',
        result: { status: 'shadow' },
        after: { 'services.pay.tiers.STD': 0.5, 'services.pay.classes.low': 0.5 },
      }),
    ])
  })

  it('records a failed enforce and retries it after retryMs', async () => {
    const { engine, actions, at } = setup('enforce', { fail: true })
    engine.signal(forecast('pay', 220, 0))
    await engine.run()
    at(4 * S)
    await engine.run()
    at(5 * S)
    await engine.run()
    expect(actions.map((a) => a.result)).toEqual([
      { status: 'failed', detail: 'state store unavailable' },
      { status: 'failed', detail: 'state store unavailable' },
    ])
  })

  it('acts only while it leads, and a new leader re-applies what its policies want', async () => {
    let leads = false
    const { engine, patches, actions, at } = setup('enforce', { leader: () => leads })
    engine.signal(forecast('pay', 220, 0))
    await engine.run()
    expect(actions).toEqual([])
    leads = true
    at(S)
    await engine.run()
    expect(patches).toHaveLength(1)
    leads = false
    await engine.run()
    leads = true
    at(2 * S)
    await engine.run()
    expect(patches).toHaveLength(2)
  })
})
