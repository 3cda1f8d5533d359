import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { alertmanagerAlert, slackBody, webhookBody, type Alert, type Notification } from '../alerts/index.js'
import { createRng } from '../journeys/rng.js'
import { fiveServiceTopology, NO_RETRY_POLICY, syntheticTrace } from '../journeys/synthetic.js'
import { emptySketch, encodeSketch } from '../store/sketch.js'
import { SqliteStore } from '../store/sqlite.js'
import { AlertJourneys, type AlertImpact, type AlertRootCause } from './alert-journeys.js'
import { LiveJourneys, type JourneyRoute } from './journeys.js'
import { toSeriesPoint } from './points.js'
import { fmtPct } from '../format.js'

const W = 1000
const T0 = 1_700_000_000_000
const FAULT = T0 + 60_000

const policy: JourneyRoute['policy'] = NO_RETRY_POLICY

/** A failure alert on a gateway series, active since the fault began. */
function alertOn(service: string, route: string): Alert {
  const evidence = {
    active: true,
    metric: 'failedRatio',
    observed: 0.3,
    expected: null,
    band: null,
    threshold: 0.1,
    summary: '30% of 100 requests failed',
    details: {},
    rule: 'down',
    kind: 'failure' as const,
    key: `${service}|${route}|edge`,
    windowStartMs: FAULT,
    windowMs: W,
    links: { alert: '', series: '', points: '' },
  }
  return {
    fingerprint: `fp-${service}`,
    rule: 'down',
    kind: 'failure',
    mode: 'enforce',
    severity: 'critical',
    key: evidence.key,
    series: { service, route, env: 'edge' },
    level: 'route',
    labels: {},
    state: 'firing',
    activeAtMs: FAULT,
    firingAtMs: FAULT,
    resolvedAtMs: null,
    resolvedBy: null,
    lastEvalMs: FAULT + 30_000,
    lastTrafficMs: FAULT + 30_000,
    pastRuns: [],
    trueWindows: 30,
    falseWindows: 0,
    evidence,
    latest: evidence,
    notified: { firing: false, resolved: false, repeats: 0, lastAtMs: null },
    suppressed: null,
    silencedBy: null,
    ack: null,
    incident: null,
    context: {},
  }
}

describe('AlertJourneys: impact, root cause and incidents for alerts', () => {
  let store: SqliteStore
  let now = T0
  let j: LiveJourneys
  let aj: AlertJourneys
  beforeEach(async () => {
    store = await SqliteStore.open({ path: ':memory:' })
    now = T0
    j = new LiveJourneys({
      store,
      windowMs: W,
      gatewayEnv: 'edge',
      sampleRate: 1,
      routes: [
        { name: 'shop', service: 'shop', policy },
        { name: 'pricing', service: 'pricing', policy },
      ],
      traceWaitMs: 2_000,
      now: () => now,
    })
    aj = new AlertJourneys({
      journeys: j,
      horizonMs: 1_800_000,
      correlationWindowMs: 120_000,
      enrichTimeoutMs: 1_000,
      simulations: 20_000,
      now: () => now,
    })
    // a minute of normal traffic, then 30 s of pricing failing 30 % of its calls (10 traces/s)
    const rng = createRng(11)
    const normal = fiveServiceTopology()
    const faulty = fiveServiceTopology({ pricing: { errorRatio: 0.3 } })
    for (let t = T0; t < FAULT + 30_000; t += 100) {
      const topo = t < FAULT ? normal : faulty
      j.add(syntheticTrace(topo.shop, { route: 'shop', gatewayEnv: 'edge', startMs: t }, rng).spans, t)
      if ((t - T0) % 5_000 === 0) j.take(t)
    }
    now = FAULT + 35_000
    j.take(now)
    // 40 clients sending 10 requests/s in all
    j.clientWindow({
      windowStartMs: now - W,
      windowMs: W,
      gateways: 1,
      clients: Array.from({ length: 40 }, (_, i) => ({
        clientId: `c${i}`,
        requests: 0.25,
        errors: 0,
        meanLatencyMs: 50,
        distinctRoutes: 1,
      })),
    })
  })
  afterEach(() => store.close())

  it('puts users affected in the next 30 minutes with a 90 % interval, and the failing dependency first', async () => {
    const got = (await aj.enrich(alertOn('shop', 'shop'))) as {
      impact: AlertImpact
      rootCause: AlertRootCause
    }
    expect(got.impact.summary).toMatch(
      /^≈\d+ users affected \(a request missing the SLO\) in the next 30 minutes(?: \(90% interval \d+–\d+\))?; [\d.]+% of requests miss the SLO \(fail or take over 1,000 ms; 90% interval [\d.]+–[\d.]+%\) on shop$/,
    )
    // pricing fails 30 % of its calls: about as many requests miss the SLO (the rest are fast)
    const miss = got.impact.sloMissRatio!
    expect(miss.value).toBeGreaterThan(0.2)
    expect(miss.value).toBeLessThan(0.4)
    expect(miss.low).toBeLessThanOrEqual(miss.value)
    expect(miss.high).toBeGreaterThanOrEqual(miss.value)
    expect(got.impact.sloLatencyMs).toBe(1_000)
    expect(got.impact.routes[0].sloMissRatio).toEqual(miss)
    expect(got.impact.summary).toContain(`${fmtPct(miss.value)} of requests miss the SLO`)
    const users = got.impact.usersAffected!
    expect(users.low).toBeLessThanOrEqual(users.value)
    expect(users.high).toBeGreaterThanOrEqual(users.value)
    // every one of 40 clients sending a request every 4 s for 30 minutes meets a 30 % failure
    expect(users.value).toBeGreaterThan(35)
    expect(users.value).toBeLessThanOrEqual(40)
    expect(got.impact.routes[0].successProbability).toBeGreaterThan(0.6)
    expect(got.impact.routes[0].successProbability).toBeLessThan(0.8)
    // the p95 of the journeys that succeed: a failed one's time to fail is no latency
    const r = await j.currentImpact('shop', FAULT, 1_800_000, 20_000)
    expect(r.baseline.succeededLatencyMs!.p95.value).not.toBe(r.baseline.latencyMs.p95.value)
    expect(got.impact.routes[0].p95Ms).toBe(r.baseline.succeededLatencyMs!.p95.value)
    expect(got.rootCause.symptom).toBe('errors')
    expect(got.rootCause.candidates[0]).toMatchObject({ route: 'shop', service: 'pricing', env: 'aws' })
    expect(got.rootCause.summary).toMatch(
      /^likely root cause of the errors: pricing \(aws, \d+% of the evidence\)/,
    )
  })

  it('says when nothing moved in the alert’s windows, and gives the candidates as where the evidence lies now', async () => {
    // an alert on the request rate during the normal minute: neither errors nor latency rose
    const alert = alertOn('shop', 'shop')
    const calm = {
      ...alert,
      activeAtMs: T0 + 30_000,
      lastEvalMs: T0 + 50_000,
      evidence: { ...alert.evidence, metric: 'ratePerSec' },
    }
    const got = (await aj.context(calm)).rootCause
    expect(got.moved).toBe(false)
    expect(got.symptomReason).toMatch(
      /^nothing moved: error ratio [\d.]+% → [\d.]+%, p95 [\d.]+ → [\d.]+ ms$/,
    )
    expect(got.candidates.length).toBeGreaterThan(0)
    expect(got.summary).toMatch(
      /^no root cause of a change: against the baseline, nothing moved: error ratio .*; the evidence now lies with \w+ \(\w+, \d+% of it\)/,
    )
    // the failure alert during the fault: errors rose
    const fault = (await aj.context(alert)).rootCause
    expect(fault).toMatchObject({ symptom: 'errors', moved: true })
    expect(fault.symptomReason).toMatch(/^errors \(asked for\): error ratio [\d.]+% → [\d.]+%$/)
  })

  it('the SLO-miss share reaches the pages: Slack line, Alertmanager annotation, webhook context', async () => {
    const alert = alertOn('shop', 'shop')
    alert.context = (await aj.enrich(alert)) as Record<string, unknown>
    const impact = alert.context.impact as AlertImpact
    const n: Notification = {
      id: 'n1',
      event: 'firing',
      alert,
      group: 'shop|edge',
      fencingToken: null,
      atMs: now,
    }
    const share = `${fmtPct(impact.sloMissRatio!.value)} of requests miss the SLO (fail or take over 1,000 ms`
    expect(slackBody([n]).text).toContain(share)
    expect(alertmanagerAlert(n, null).annotations.impact).toContain(share)
    const hook = webhookBody('ops', [n]).alerts[0].context.impact as AlertImpact
    expect(hook.sloMissRatio).toEqual(impact.sloMissRatio)
    expect(hook.summary).toContain(share)
  })

  it('an alert on a service no journey reaches says so instead of guessing', async () => {
    const got = (await aj.enrich(alertOn('payroll', '*'))) as {
      impact: AlertImpact
      rootCause: AlertRootCause
    }
    expect(got.impact.summary).toBe('impact unknown: no traced journey reaches "payroll" yet')
    expect(got.impact.routes).toEqual([])
    expect(got.rootCause.candidates).toEqual([])
  })

  it("a route without traces in the alert's windows is no error: nothing logged, the summaries say unknown", async () => {
    const errors: string[] = []
    const quiet = new AlertJourneys({
      journeys: j,
      horizonMs: 1_800_000,
      correlationWindowMs: 120_000,
      enrichTimeoutMs: 1_000,
      simulations: 2_000,
      now: () => now,
      onError: (err, what) => errors.push(`${what}: ${err.message}`),
    })
    // route "quiet" sent requests (the gateway's rollups) but none was traced
    const sk = emptySketch()
    for (let i = 0; i < 20; i++) sk.accept(40)
    const stored = {
      series: { service: 'quiet', route: 'quiet', env: 'edge' },
      startMs: FAULT,
      durationMs: W,
      sources: 1,
      count: 20,
      statusClass: [0, 20, 0, 0, 0] as [number, number, number, number, number],
      limited: 0,
      refused: 0,
      refused5xx: 0,
      timeouts: 0,
      connectErrors: 0,
      bytesIn: 0,
      bytesOut: 0,
      latencySketch: encodeSketch(sk),
    }
    j.hook(stored.series, toSeriesPoint(stored), { correction: false, latencySketch: stored.latencySketch })
    const got = await quiet.context(alertOn('quiet', 'quiet'))
    expect(got.rootCause.summary).toMatch(/^root cause (unknown|not known yet)/)
    expect(got.impact.summary).toBe('impact unknown: too few traces to simulate')
    expect(got.rootCause.candidates).toEqual([])
    expect(errors).toEqual([])
  })

  it('an alert on the dependency itself finds the journeys that call it', async () => {
    const got = (await aj.enrich(alertOn('pricing', '*'))) as { impact: AlertImpact }
    expect(got.impact.routes.map((r) => r.route)).toEqual(['shop'])
  })

  it('makes alerts on a caller and its dependency one incident headed by the dependency', () => {
    const caller = alertOn('shop', 'shop')
    const dep = alertOn('pricing', 'pricing')
    const other = alertOn('payroll', '*')
    const incidents = aj.correlate([caller, other, dep])
    expect(incidents).toEqual([
      { members: ['fp-pricing', 'fp-shop'], reason: expect.stringMatching(/^pricing is called by shop/) },
    ])
    // too far apart in time: separate
    const late = { ...dep, activeAtMs: caller.activeAtMs + 200_000 }
    expect(aj.correlate([caller, late])).toEqual([])
  })
})

describe('AlertJourneys in an alert storm', () => {
  it('runs two computations at once, queues 50 and skips the rest instead of piling up work', async () => {
    let running = 0
    let most = 0
    const release: (() => void)[] = []
    // a journeys source whose root cause answers when told to: the queue is what is tested
    const slow = {
      settleMs: 0,
      completeUntilMs: () => Number.POSITIVE_INFINITY,
      slo: { availability: 0.999, latencyMs: 1_000 },
      routesOf: () => ['shop'],
      rootCause: async () => {
        running++
        most = Math.max(most, running)
        await new Promise<void>((r) => release.push(r))
        running--
        throw new Error('no data')
      },
      currentImpact: async () => {
        throw new Error('no data')
      },
    } as unknown as LiveJourneys
    const aj = new AlertJourneys({
      journeys: slow,
      horizonMs: 1_800_000,
      correlationWindowMs: 120_000,
      enrichTimeoutMs: 1_000,
    })
    let settled = 0
    const all = Array.from({ length: 60 }, (_, i) =>
      aj.enrich({ ...alertOn('shop', 'shop'), fingerprint: `fp${i}` }).finally(() => settled++),
    )
    for (let i = 0; i < 200 && release.length < 2; i++) await new Promise((r) => setImmediate(r))
    expect(aj.skipped).toBe(8)
    for (let i = 0; i < 5_000 && settled < 60; i++) {
      release.shift()?.()
      await new Promise((r) => setImmediate(r))
    }
    const got = await Promise.all(all)
    expect(most).toBe(2)
    expect(got.filter((g) => g === null)).toHaveLength(8)
    expect(got.filter((g) => g !== null)).toHaveLength(52)
  })
})

describe('AlertJourneys recomputing an alert once its traces are in', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  /** A journeys source whose analysed-until point the test moves; every answer is "no data". */
  function source(completeUntil: { ms: number }) {
    return {
      settleMs: 70_000,
      completeUntilMs: () => completeUntil.ms,
      slo: { availability: 0.999, latencyMs: 1_000 },
      routesOf: () => ['shop'],
      rootCause: async () => {
        throw new Error('no data')
      },
      currentImpact: async () => {
        throw new Error('no data')
      },
    } as unknown as LiveJourneys
  }

  /** The times at which it annotated the alert (fake clock). */
  function annotating(completeUntil: { ms: number }) {
    const annotated: number[] = []
    const aj = new AlertJourneys({
      journeys: source(completeUntil),
      horizonMs: 1_800_000,
      correlationWindowMs: 120_000,
      enrichTimeoutMs: 1_000,
      now: () => Date.now(),
      annotate: () => {
        annotated.push(Date.now())
        return true
      },
    })
    return { aj, annotated }
  }

  it('annotates as soon as the alert windows are analysed, not at the longest wait', async () => {
    vi.useFakeTimers({ now: FAULT + 2_000 })
    const completeUntil = { ms: FAULT - 30_000 }
    const { aj, annotated } = annotating(completeUntil)
    const alert = { ...alertOn('shop', 'shop'), activeAtMs: FAULT, lastEvalMs: FAULT + 1_000 }
    const first = aj.enrich(alert)
    await vi.advanceTimersByTimeAsync(20_000)
    await first
    expect(annotated).toEqual([])
    // the traces of the alert's windows are decided 25 s after its last evaluation
    completeUntil.ms = FAULT + 1_000
    await vi.advanceTimersByTimeAsync(1_500)
    expect(annotated).toHaveLength(1)
    expect(annotated[0] - (FAULT + 1_000)).toBeLessThan(25_000)
    aj.close()
  })

  it('annotates at the longest wait when a trace never becomes whole', async () => {
    vi.useFakeTimers({ now: FAULT + 2_000 })
    const { aj, annotated } = annotating({ ms: FAULT - 30_000 })
    const first = aj.enrich({ ...alertOn('shop', 'shop'), activeAtMs: FAULT, lastEvalMs: FAULT + 1_000 })
    await vi.advanceTimersByTimeAsync(60_000)
    await first
    expect(annotated).toEqual([])
    await vi.advanceTimersByTimeAsync(12_000)
    expect(annotated).toHaveLength(1)
    expect(annotated[0] - (FAULT + 1_000)).toBeGreaterThanOrEqual(70_000)
    aj.close()
  })
})
