/**
 * @module Every query parameter of the control plane's read routes, refused: the answer names the
 * parameter and what was sent, and its fix says what to send (units, range, allowed values) rather
 * than the generic pointer at /docs. Runs the real control plane over an in-memory SQLite store.
 */
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryBus } from '../bus/index.js'
import { validateConfig } from '../config/index.js'
import { startControlPlane, type RunningControlPlane } from '../control/start.js'
import { SqliteStore } from '../store/index.js'
import { actionRoutes } from './routes/actions.js'
import { anomalyRoutes } from './routes/anomalies.js'
import { auditRoutes } from './routes/audit.js'
import { forecastRoutes } from './routes/forecasts.js'
import { journeyRoutes } from './routes/journeys.js'
import { scoreRoutes } from './routes/scores.js'
import { seriesRoutes } from './routes/series.js'
import { buildAdminApp } from './server.js'
import { fixOf } from './problem.js'

const KEY = encodeURIComponent('orders|/orders|test')

/** [request, the parameter named, what was sent, the fix (what to send)] */
const CASES: ReadonlyArray<readonly [string, string, string, RegExp]> = [
  ['/api/anomalies?state=closed', 'state', 'closed', /one of open, all/],
  ['/api/anomalies?from=yesterday', 'from', 'yesterday', /ms since the epoch .* ISO 8601/],
  ['/api/anomalies?to=soon', 'to', 'soon', /ms since the epoch .* ISO 8601/],
  [
    '/api/anomalies?from=2000&to=1000',
    'from',
    '2000',
    /earlier than to .* leave from out for the 24h before to/,
  ],
  [`/api/series/${KEY}/points?step=fast`, 'step', 'fast', /ms, s, m or h .* step=1m.* window length \(10s\)/],
  [`/api/series/${KEY}/points?step=0s`, 'step', '0s', /ms, s, m or h/],
  [`/api/series/${KEY}/points?step=1ms`, 'step', '1 ms', /step of at least 1s \(step=1s\)/],
  [`/api/series/${KEY}/points?from=5000&to=5000`, 'from', '5000', /leave from out for the 1h before to/],
  [`/api/series/${KEY}/scores?from=2000&to=1000`, 'from', '2000', /leave from out for the 1h before to/],
  [`/api/series/${KEY}/scores?to=later`, 'to', 'later', /ISO 8601/],
  [
    `/api/series/${KEY}/forecast?horizon=soon`,
    'horizon',
    'soon',
    /whole number of windows from 1 to forecast.maxHorizon/,
  ],
  [`/api/series/${KEY}/forecast?horizon=100000`, 'horizon', '100000', /from 1 to 360 .* horizon=30/],
  ['/api/actions?mode=live', 'mode', 'live', /one of shadow, enforce/],
  ['/api/actions?limit=0', 'limit', '0', /whole number from 1 to 1000/],
  ['/api/actions?cursor=abc', 'cursor', 'abc', /nextCursor of the previous page .* leave cursor out/],
  ['/api/actions?from=2000&to=1000', 'from', '2000', /earlier than to .* leave one of them out/],
  ['/api/audit?cursor=abc', 'cursor', 'abc', /nextCursor of the previous page/],
  ['/api/audit?limit=many', 'limit', 'many', /whole number from 1 to 1000/],
  ['/api/traces?status=failed', 'status', 'failed', /one of error, ok/],
  ['/api/traces?window=5x', 'window', '5x', /s, m or h .* from 1s to 720h/],
  ['/api/traces?window=10', 'window', '10', /a bare number is ms/],
  ['/api/traces?minDurationMs=fast', 'minDurationMs', 'fast', /milliseconds without a unit/],
  ['/api/traces?minDurationMs=50&maxDurationMs=10', 'minDurationMs', '50', /at most maxDurationMs/],
  ['/api/traces?limit=1000', 'limit', '1000', /whole number from 1 to 200/],
  ['/api/traces?from=2000&to=1000', 'from', '2000', /leave from out and send window/],
  ['/api/traces/xyz', 'traceId', 'xyz', /32 hex digits/],
  ['/api/graph?window=0s', 'window', '0s', /from 1s to 720h/],
  ['/api/journeys?window=forever', 'window', 'forever', /e\.g\. window=1h/],
  ['/api/rootcause', 'route', '', /name of an entry route .* GET \/api\/journeys/],
  ['/api/rootcause?route=shop&symptom=slow', 'symptom', 'slow', /one of auto, errors, latency/],
  ['/api/rootcause?route=shop&baseline=1', 'baseline', '1', /from 1s to 168h/],
  [
    '/api/whatif?service=orders',
    'kind',
    'nothing',
    /one of errorRatio, latency, down, replicaLoss \(e\.g\. kind=down\)/,
  ],
  ['/api/whatif?kind=crash&service=orders', 'kind', 'crash', /one of errorRatio, latency, down, replicaLoss/],
  ['/api/whatif?kind=down', 'service', 'nothing', /service=pricing.*GET \/api\/journeys lists them/],
  [
    '/api/whatif?kind=errorRatio&service=orders&value=20%25',
    'value',
    '20%',
    /from 0 to 1 \(e\.g\. value=0\.2\)/,
  ],
  ['/api/whatif?kind=errorRatio&service=orders', 'value', 'nothing', /from 0 to 1 \(e\.g\. value=0\.2\)/],
  [
    '/api/whatif?kind=latency&service=orders&factor=0',
    'factor',
    '0',
    /above 0 and at most 1000 \(e\.g\. factor=3\)/,
  ],
  ['/api/whatif?kind=down&service=orders&durationMs=10m', 'durationMs', '10m', /in ms without a unit/],
  [
    '/api/whatif?kind=down&service=orders&value=0.5',
    'value',
    '0.5',
    /remove value=0\.5, or send kind=errorRatio/,
  ],
  [
    '/api/whatif?kind=replicaLoss&service=orders&replicas=two',
    'replicas',
    'two',
    /whole number from 1 \(e\.g\. replicas=4\)/,
  ],
  ['/api/whatif?kind=replicaLoss&service=orders&lost=0', 'lost', '0', /whole number from 1/],
  ['/api/whatif?kind=replicaLoss&service=orders&utilization=1.5', 'utilization', '1.5', /from 0 to 1/],
  ['/api/whatif?kind=down&service=orders&journeys=10', 'journeys', '10', /from 1000 to 2000000/],
  ['/api/whatif?kind=down&service=orders&seed=1.5', 'seed', '1.5', /whole number \(e\.g\. seed=1\)/],
  [
    '/api/whatif?kind=down&service=orders&horizon=soon',
    'horizon',
    'soon',
    /from 1m to 168h, e\.g\. horizon=1h/,
  ],
  ['/api/whatif?kind=down&service=orders&window=1s', 'window', '1s', /from 10s to 168h/],
]

describe('query parameters the control plane refuses', { timeout: 60_000 }, () => {
  let store: SqliteStore
  let bus: MemoryBus
  let cp: RunningControlPlane
  let app: FastifyInstance
  beforeAll(async () => {
    store = await SqliteStore.open({ path: ':memory:' })
    bus = new MemoryBus()
    const r = validateConfig({
      env: 'test',
      services: { orders: { targets: ['http://127.0.0.1:9'] } },
      routes: [{ path: '/orders', service: 'orders' }],
      store: { kind: 'sqlite', path: ':memory:' },
      alerts: { enabled: false },
      control: { actionsFile: false },
    })
    if (r.config === null) throw new Error(JSON.stringify(r.problems))
    const config = r.config
    cp = await startControlPlane(config, bus, { store, graceMs: 100 })
    const { anomalies, forecasts, journeys } = cp
    if (anomalies === null || forecasts === null || journeys === null)
      throw new Error('detect, forecast and journeys are on by default')
    app = await buildAdminApp({
      env: {},
      sources: {
        ready: () => true,
        routes: () => [],
        services: () => [],
        reload: async () => ({ ok: true, routes: 1 }),
      },
      plugins: [
        seriesRoutes({ source: cp.plane, windowMs: config.telemetry.windowMs }),
        anomalyRoutes({ source: anomalies }),
        forecastRoutes({ source: forecasts }),
        scoreRoutes({ source: anomalies }),
        actionRoutes({ source: cp.actions }),
        auditRoutes({ source: cp.audit }),
        journeyRoutes({ source: journeys }),
      ],
    })
  })
  afterAll(async () => {
    await app?.close()
    await cp?.stop()
    await bus?.close()
    await store?.close()
  })

  it.each(CASES)('%s: names %s and what was sent, and says what to send', async (url, param, sent, fix) => {
    const res = await app.inject(url)
    expect(res.statusCode).toBe(400)
    const body = res.json<{ code: string; message: string; fix: string }>()
    expect(body.code).toMatch(/^VGL_ERR_(CONTROL_QUERY|JOURNEYS_QUERY|JOURNEYS_WHATIF)$/)
    expect(body.message.startsWith(param) || body.message.includes(`${param} (`)).toBe(true)
    expect(body.message).toContain(sent)
    // the code's own fix only points at /docs
    expect(body.fix).not.toBe(fixOf(body.code))
    expect(body.fix).toMatch(fix)
  })
})
