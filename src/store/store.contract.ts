/**
 * @module `storeContract(make)`: the behaviour every Store adapter must show, run against the real
 * databases by each adapter's test file (undici `cacheStoreTests`, Hono `runTest`).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readTrace } from '../journeys/index.js'
import type { Rollup, SpanRecord } from '../telemetry/types.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import { decodeSketch, emptySketch, encodeSketch } from './sketch.js'
import { ALL, DEFAULT_RETENTION_MS, type ActionRecord, type Store, type TraceQuery } from './store.js'

export interface StoreFixture {
  store: Store
  /** closes the store and removes what the fixture created */
  cleanup(): Promise<void>
}

const W = 10_000
/** a window start well in the past, aligned to the hour, so minutes and hours are whole */
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)

const orders: SeriesKey = { service: 'orders', route: '/api/orders', env: 'prod' }
const ordersItems: SeriesKey = { service: 'orders', route: '/api/items', env: 'prod' }
const users: SeriesKey = { service: 'users', route: '/api/users', env: 'prod' }

export function rollupOf(
  gatewayId: string,
  series: SeriesKey,
  windowStartMs: number,
  latencies: readonly number[],
  extra: Partial<Rollup> = {},
): Rollup {
  const s = emptySketch()
  for (const v of latencies) s.accept(v)
  const errors = extra.statusClass?.[4] ?? 0
  return {
    gatewayId,
    series,
    windowStartMs,
    windowMs: W,
    count: latencies.length,
    statusClass: [0, latencies.length - errors, 0, 0, errors],
    limited: 0,
    refused: 0,
    refused5xx: 0,
    timeouts: 0,
    connectErrors: 0,
    bytesIn: 100 * latencies.length,
    bytesOut: 1000 * latencies.length,
    latencySketch: encodeSketch(s),
    ...extra,
  }
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i)

/** The migrations a database had before the refused counters (migration 6 adds them). */
export const MIGRATIONS_BEFORE_REFUSED = 5

/**
 * A raw rollup and its route-level point as a store migrated before the refused counters wrote
 * them, for each adapter's upgrade test: `[table, columns, values]`, values in column order.
 */
export function legacyRows(r: Rollup): [string, string[], unknown[]][] {
  const counters = ['count', 's1xx', 's2xx', 's3xx', 's4xx', 's5xx', 'limited', 'timeouts', 'connect_errors']
  const values = [r.count, ...r.statusClass, r.limited, r.timeouts, r.connectErrors]
  const tail = [r.bytesIn, r.bytesOut, Buffer.from(r.latencySketch), 0]
  const key = [r.series.service, r.series.route, r.series.env, r.windowStartMs, r.windowMs]
  const cols = (head: string[], last: string) => [
    ...head,
    ...counters,
    'bytes_in',
    'bytes_out',
    'sketch',
    last,
  ]
  return [
    [
      'rollups_raw',
      cols(['gateway_id', 'service', 'route', 'env', 'start_ms', 'duration_ms'], 'received_ms'),
      [r.gatewayId, ...key, ...values, ...tail],
    ],
    [
      'series_window',
      cols(['service', 'route', 'env', 'start_ms', 'duration_ms', 'sources'], 'updated_ms'),
      [...key, 1, ...values, ...tail],
    ],
  ]
}

/**
 * After an upgrade: the rows written before it read 0 refused, and a rollup of the same window
 * from a newer gateway merges with them.
 */
export async function expectUpgraded(store: Store, old: Rollup): Promise<void> {
  const [raw] = await store.queryRaw(old.series, old.windowStartMs, old.windowStartMs + old.windowMs)
  expect([raw.count, raw.refused, raw.refused5xx]).toEqual([old.count, 0, 0])
  const [p] = await store.queryPoints(
    old.series,
    old.windowStartMs,
    old.windowStartMs + old.windowMs,
    'window',
  )
  expect([p.count, p.refused, p.refused5xx]).toEqual([old.count, 0, 0])
  const next = rollupOf('gw-new', old.series, old.windowStartMs, [1, 2], {
    windowMs: old.windowMs,
    statusClass: [0, 0, 0, 0, 3],
    count: 3,
    refused: 1,
    refused5xx: 1,
  })
  const written = await store.writeWindow([next])
  const route = written.find((w) => w.series.route === old.series.route)!
  expect([route.count, route.refused, route.refused5xx, route.sources]).toEqual([old.count + 3, 1, 1, 2])
}

function action(
  id: string,
  atMs: number,
  fencingToken: number,
  extra: Partial<ActionRecord> = {},
): ActionRecord {
  return {
    id,
    atMs,
    kind: 'alert.firing',
    policy: 'orders-errors',
    mode: 'enforce',
    target: 'orders|*|prod',
    before: { state: 'pending' },
    after: { state: 'firing' },
    reason: 'error ratio 0.31 > 0.05 for 2 windows',
    evidence: { observed: 0.31, expected: 0.01, band: [0, 0.03], quote: 'it\'s "bad"\n' },
    result: { status: 'pending' },
    fencingToken,
    ...extra,
  }
}

function span(traceId: string, spanId: string, extra: Partial<SpanRecord> = {}): SpanRecord {
  return {
    traceId,
    spanId,
    parentSpanId: null,
    service: 'orders',
    env: 'prod',
    route: '/api/orders',
    name: 'GET /api/orders',
    kind: 2,
    startTimeMs: T0 + 5,
    durationMs: 12.5,
    statusCode: 0,
    httpStatus: 200,
    requestId: null,
    source: 'gateway',
    attributes: { 'http.method': 'GET', retried: false, attempts: 1 },
    ...extra,
  }
}

export function storeContract(name: string, make: () => Promise<StoreFixture>): void {
  describe(`Store contract: ${name}`, () => {
    let fx: StoreFixture
    let store: Store
    beforeEach(async () => {
      fx = await make()
      store = fx.store
    })
    afterEach(async () => {
      await fx.cleanup()
    })
    /** a search read by the journeys' rule, as the control plane asks it */
    const search = (q: TraceQuery) => store.searchTraces(q, readTrace)

    it('matches the interface', () => {
      for (const m of [
        'writeWindow',
        'downsample',
        'listSeries',
        'queryPoints',
        'queryRaw',
        'writeSpans',
        'spansByTrace',
        'spansByRequestId',
        'appendEvents',
        'queryEvents',
        'appendAudit',
        'queryAudit',
        'prune',
        'close',
        'advanceFence',
        'appendActions',
        'settleAction',
        'queryActions',
        'putControlState',
        'getControlState',
        'putSilence',
        'deleteSilence',
        'listSilences',
        'putAlertAck',
        'listAlertAcks',
        'searchTraces',
        'writeGraphRows',
        'queryGraphRows',
      ] as const)
        expect(typeof store[m], m).toBe('function')
      expect(['sqlite', 'postgres']).toContain(store.kind)
    })

    it('merges rollups of one series and window from many gateways exactly', async () => {
      const a = range(1, 100)
      const b = range(101, 50)
      const c = range(500, 10)
      const points = await store.writeWindow([
        rollupOf('gw-a', orders, T0, a, { statusClass: [0, 95, 0, 0, 5] }),
        rollupOf('gw-b', orders, T0, b),
        rollupOf('gw-c', orders, T0, c, { limited: 2, timeouts: 1, connectErrors: 3 }),
      ])
      const route = points.find((p) => p.series.route === orders.route)!
      expect(route.count).toBe(160)
      expect(route.sources).toBe(3)
      expect(route.statusClass).toEqual([0, 155, 0, 0, 5])
      expect([route.limited, route.timeouts, route.connectErrors]).toEqual([2, 1, 3])
      expect(route.bytesIn).toBe(16_000)
      const union = emptySketch()
      for (const v of [...a, ...b, ...c]) union.accept(v)
      const merged = decodeSketch(route.latencySketch)
      expect(merged.count).toBe(160)
      for (const q of [0.5, 0.95, 0.99])
        expect(merged.getValueAtQuantile(q)).toBeCloseTo(union.getValueAtQuantile(q), 9)

      const stored = await store.queryPoints(orders, T0, T0 + W, 'window')
      expect(stored).toHaveLength(1)
      expect(stored[0].count).toBe(160)
      expect(decodeSketch(stored[0].latencySketch).getValueAtQuantile(0.99)).toBeCloseTo(
        union.getValueAtQuantile(0.99),
        9,
      )
      const raw = await store.queryRaw(orders, T0, T0 + W)
      expect(raw.map((r) => r.gatewayId)).toEqual(['gw-a', 'gw-b', 'gw-c'])
    })

    it('keeps the requests the gateway answered itself apart, summed at every level and resolution', async () => {
      const grace = 5_000
      await store.writeWindow([
        // gw-a: 10 requests, 4 answered by the gateway (3 of them 503s with no healthy target)
        rollupOf('gw-a', orders, T0, range(1, 10), {
          statusClass: [0, 5, 0, 1, 4],
          refused: 4,
          refused5xx: 3,
        }),
        rollupOf('gw-b', orders, T0, range(1, 5), {
          statusClass: [0, 3, 0, 2, 0],
          refused: 2,
          refused5xx: 0,
        }),
        rollupOf('gw-a', users, T0, range(1, 3), { statusClass: [0, 1, 0, 0, 2], refused: 2, refused5xx: 2 }),
        rollupOf('gw-a', orders, T0 + W, range(1, 4), { refused: 1, refused5xx: 0 }),
      ])
      const at = async (series: SeriesKey, res: 'window' | '1m' | '1h', toMs = T0 + 3_600_000) =>
        (await store.queryPoints(series, T0, toMs, res)).map((p) => [p.count, p.refused, p.refused5xx])
      expect(await at(orders, 'window')).toEqual([
        [15, 6, 3],
        [4, 1, 0],
      ])
      expect(await at({ service: 'orders', route: ALL, env: 'prod' }, 'window')).toEqual([
        [15, 6, 3],
        [4, 1, 0],
      ])
      expect(await at({ service: ALL, route: ALL, env: ALL }, 'window')).toEqual([
        [18, 8, 5],
        [4, 1, 0],
      ])
      const raw = await store.queryRaw(orders, T0, T0 + W)
      expect(raw.map((r) => [r.gatewayId, r.refused, r.refused5xx])).toEqual([
        ['gw-a', 4, 3],
        ['gw-b', 2, 0],
      ])
      await store.downsample(T0 + 3_600_000 + grace, grace)
      expect(await at(orders, '1m')).toEqual([[19, 7, 3]])
      expect(await at({ service: ALL, route: ALL, env: ALL }, '1h')).toEqual([[22, 9, 5]])
    })

    it('rolls series up to {service, env} and global', async () => {
      await store.writeWindow([
        rollupOf('gw-a', orders, T0, range(1, 10)),
        rollupOf('gw-a', ordersItems, T0, range(1, 20)),
        rollupOf('gw-b', users, T0, range(1, 5)),
      ])
      const [svc] = await store.queryPoints(
        { service: 'orders', route: ALL, env: 'prod' },
        T0,
        T0 + W,
        'window',
      )
      expect(svc.count).toBe(30)
      const [global] = await store.queryPoints({ service: ALL, route: ALL, env: ALL }, T0, T0 + W, 'window')
      expect(global.count).toBe(35)
      expect(decodeSketch(global.latencySketch).count).toBe(35)
    })

    it('never double counts a redelivered rollup', async () => {
      const batch = [rollupOf('gw-a', orders, T0, range(1, 10)), rollupOf('gw-b', orders, T0, range(1, 7))]
      const first = await store.writeWindow(batch)
      const again = await store.writeWindow(batch)
      await store.writeWindow([batch[0], batch[0]])
      expect(again.map((p) => p.count)).toEqual(first.map((p) => p.count))
      const [p] = await store.queryPoints(orders, T0, T0 + W, 'window')
      expect(p.count).toBe(17)
      const [global] = await store.queryPoints({ service: ALL, route: ALL, env: ALL }, T0, T0 + W, 'window')
      expect(global.count).toBe(17)
      expect(await store.queryRaw(orders, T0, T0 + W)).toHaveLength(2)
    })

    it('lands a late rollup as a correction of every level', async () => {
      await store.writeWindow([
        rollupOf('gw-a', orders, T0, range(1, 10)),
        rollupOf('gw-a', users, T0, range(1, 4)),
      ])
      const late = await store.writeWindow([rollupOf('gw-b', orders, T0, range(1000, 5))])
      const byKey = new Map(
        late.map((p) => [`${p.series.service}|${p.series.route}|${p.series.env}`, p.count]),
      )
      expect(byKey.get('orders|/api/orders|prod')).toBe(15)
      expect(byKey.get('orders|*|prod')).toBe(15)
      expect(byKey.get('*|*|*')).toBe(19)
      const [p] = await store.queryPoints(orders, T0, T0 + W, 'window')
      expect(decodeSketch(p.latencySketch).getValueAtQuantile(0.99)).toBeGreaterThan(900)
    })

    it('replaces a rollup whose identity is reused with new content', async () => {
      await store.writeWindow([rollupOf('gw-a', orders, T0, range(1, 10))])
      await store.writeWindow([rollupOf('gw-a', orders, T0, range(1, 3))])
      const [p] = await store.queryPoints(orders, T0, T0 + W, 'window')
      expect(p.count).toBe(3)
    })

    it('discovers series by themselves and lists them with the rolled-up keys', async () => {
      await store.writeWindow([rollupOf('gw-a', orders, T0, [1]), rollupOf('gw-a', users, T0 + W, [2])])
      const keys = (await store.listSeries()).map(
        (s) => `${s.series.service}|${s.series.route}|${s.series.env}`,
      )
      expect(keys.sort()).toEqual(
        ['*|*|*', 'orders|*|prod', 'orders|/api/orders|prod', 'users|*|prod', 'users|/api/users|prod'].sort(),
      )
      const info = (await store.listSeries()).find((s) => s.series.service === ALL)!
      expect([info.firstSeenMs, info.lastSeenMs]).toEqual([T0, T0 + W])
    })

    it('queries points in [from, to) oldest first', async () => {
      await store.writeWindow([
        rollupOf('gw-a', orders, T0 + 2 * W, [3, 3, 3]),
        rollupOf('gw-a', orders, T0, [1]),
        rollupOf('gw-a', orders, T0 + W, [2, 2]),
      ])
      const pts = await store.queryPoints(orders, T0, T0 + 2 * W, 'window')
      expect(pts.map((p) => [p.startMs - T0, p.count])).toEqual([
        [0, 1],
        [W, 2],
      ])
    })

    it('downsamples to 1 min and 1 h only after the bucket closes, and redoes it on a correction', async () => {
      for (let i = 0; i < 6; i++)
        await store.writeWindow([rollupOf('gw-a', orders, T0 + i * W, range(1, i + 1))])
      const grace = 5_000
      expect(await store.downsample(T0 + 60_000 + grace - 1, grace)).toBe(0)
      expect(await store.downsample(T0 + 60_000 + grace, grace)).toBeGreaterThan(0)
      let [m] = await store.queryPoints(orders, T0, T0 + 60_000, '1m')
      expect(m.count).toBe(21)
      expect(m.durationMs).toBe(60_000)
      expect(m.sources).toBe(6)
      await store.writeWindow([rollupOf('gw-b', orders, T0 + W, range(1, 100))])
      await store.downsample(T0 + 60_000 + grace, grace)
      ;[m] = await store.queryPoints(orders, T0, T0 + 60_000, '1m')
      expect(m.count).toBe(121)
      expect(await store.queryPoints(orders, T0, T0 + 3_600_000, '1h')).toHaveLength(0)
      await store.downsample(T0 + 3_600_000 + grace, grace)
      const [h] = await store.queryPoints(orders, T0, T0 + 3_600_000, '1h')
      expect(h.count).toBe(121)
      const [gh] = await store.queryPoints({ service: ALL, route: ALL, env: ALL }, T0, T0 + 3_600_000, '1h')
      expect(gh.count).toBe(121)
      expect(await store.downsample(T0 + 3_600_000 + grace, grace)).toBe(0)
    })

    it('stores spans once and finds a trace by trace id or request id', async () => {
      await store.writeSpans([
        span('t1', 's1', { requestId: 'req-1' }),
        span('t1', 's2', {
          parentSpanId: 's1',
          service: 'payments',
          env: 'staging',
          source: 'otlp',
          startTimeMs: T0 + 6,
        }),
        span('t2', 's3'),
      ])
      await store.writeSpans([span('t1', 's1', { requestId: 'req-1', name: 'changed' })])
      const trace = await store.spansByTrace('t1')
      expect(trace.map((s) => s.spanId)).toEqual(['s1', 's2'])
      expect(trace[0].name).toBe('GET /api/orders')
      expect(trace[0].attributes).toEqual({ 'http.method': 'GET', retried: false, attempts: 1 })
      expect(trace[1]).toMatchObject({
        parentSpanId: 's1',
        service: 'payments',
        env: 'staging',
        source: 'otlp',
      })
      expect((await store.spansByRequestId('req-1')).map((s) => s.spanId)).toEqual(['s1', 's2'])
      expect(await store.spansByRequestId('nope')).toEqual([])
    })

    it('searches traces by service, env, route, status and duration, newest first, with summaries', async () => {
      const spans: SpanRecord[] = []
      for (let i = 0; i < 30; i++) {
        const t = `trace-${String(i).padStart(2, '0')}`
        const failed = i % 10 === 0
        spans.push(
          span(t, 'gw', {
            startTimeMs: T0 + i * 100,
            durationMs: 50 + i,
            requestId: `req-${i}`,
            statusCode: failed ? 2 : 0,
            httpStatus: failed ? 502 : 200,
          }),
          span(t, 'shop', {
            parentSpanId: 'gw',
            source: 'otlp',
            route: '',
            service: 'shop',
            env: 'onprem',
            startTimeMs: T0 + i * 100 + 1,
            durationMs: 40 + i,
          }),
          span(t, 'pricing', {
            parentSpanId: 'shop',
            source: 'otlp',
            route: '',
            service: 'pricing',
            env: i % 2 === 0 ? 'aws' : 'gcp',
            startTimeMs: T0 + i * 100 + 2,
            durationMs: 10 + i,
            statusCode: failed ? 2 : 0,
            httpStatus: failed ? 500 : 200,
          }),
        )
      }
      await store.writeSpans(spans)
      const all = { fromMs: T0, toMs: T0 + 10_000, limit: 5 }
      const newest = await search(all)
      expect(newest.map((t) => t.traceId)).toEqual([
        'trace-29',
        'trace-28',
        'trace-27',
        'trace-26',
        'trace-25',
      ])
      expect(newest[0]).toMatchObject({
        startMs: T0 + 2900,
        durationMs: 79,
        spanCount: 3,
        errorCount: 0,
        route: '/api/orders',
        requestId: 'req-29',
        rootService: 'vigil',
        services: ['pricing', 'shop', 'vigil'],
        envs: ['gcp', 'onprem', 'prod'],
      })
      const failed = await search({ ...all, status: 'error', limit: 10 })
      expect(failed.map((t) => t.traceId)).toEqual(['trace-20', 'trace-10', 'trace-00'])
      expect(failed[0].errorCount).toBe(2)
      const aws = await search({
        ...all,
        service: 'pricing',
        env: 'aws',
        minDurationMs: 30,
        limit: 50,
      })
      expect(aws.map((t) => t.traceId)).toEqual(['trace-28', 'trace-26', 'trace-24', 'trace-22', 'trace-20'])
      const slowGw = await search({ ...all, route: '/api/orders', maxDurationMs: 52, limit: 50 })
      expect(slowGw.map((t) => t.traceId)).toEqual(['trace-02', 'trace-01', 'trace-00'])
      const ok = await search({ ...all, service: 'pricing', status: 'ok', limit: 50 })
      expect(ok).toHaveLength(27)
      // paging: more traces than one page of spans holds
      expect(await search({ ...all, limit: 30 })).toHaveLength(30)
      expect(await search({ ...all, fromMs: T0 + 20_000, toMs: T0 + 30_000 })).toEqual([])
    })

    it('lists a trace the client abandoned as abandoned, counting only the 5xx answered before as errors', async () => {
      // the client left: the gateway answered 499, and the services still at work ended their spans
      // as errors without an HTTP status (their connection was closed under them)
      const gateway = (t: string, at: number, extra: Partial<SpanRecord> = {}) =>
        span(t, 'gw', { startTimeMs: at, durationMs: 30, requestId: `req-${t}`, ...extra })
      const left = { httpStatus: 499, attributes: { 'vigil.outcome': 'client_abort' } }
      const call = (
        t: string,
        id: string,
        parent: string,
        service: string,
        at: number,
        extra: Partial<SpanRecord>,
      ) =>
        span(t, id, { parentSpanId: parent, source: 'otlp', route: '', service, startTimeMs: at, ...extra })
      const cutOff = { statusCode: 2, httpStatus: null }
      await store.writeSpans([
        // a failure the client waited for: every failed span counts, with or without an HTTP status
        gateway('failed', T0 + 1000, { statusCode: 2, httpStatus: 502 }),
        call('failed', 'shop', 'gw', 'shop', T0 + 1001, { statusCode: 2, httpStatus: 500 }),
        call('failed', 'reviews', 'shop', 'reviews', T0 + 1002, cutOff),
        // abandoned, nothing failed before: shop and reviews were cut off
        gateway('abandoned', T0 + 2000, left),
        call('abandoned', 'shop', 'gw', 'shop', T0 + 2001, cutOff),
        call('abandoned', 'reviews', 'shop', 'reviews', T0 + 2010, cutOff),
        // abandoned after pricing answered 500: that one failed, shop and reviews were cut off later
        gateway('abandoned-5xx', T0 + 3000, left),
        call('abandoned-5xx', 'shop', 'gw', 'shop', T0 + 3001, cutOff),
        call('abandoned-5xx', 'pricing', 'shop', 'pricing', T0 + 3002, { statusCode: 2, httpStatus: 500 }),
        call('abandoned-5xx', 'reviews', 'shop', 'reviews', T0 + 3010, cutOff),
      ])
      const all = { fromMs: T0, toMs: T0 + 10_000, limit: 10 }
      const listed = new Map((await search(all)).map((t) => [t.traceId, t]))
      expect(listed.get('abandoned')).toMatchObject({ abandoned: true, errorCount: 0, spanCount: 3 })
      expect(listed.get('abandoned-5xx')).toMatchObject({ abandoned: true, errorCount: 1 })
      expect(listed.get('failed')).toMatchObject({ abandoned: false, errorCount: 3 })
      const failed = await search({ ...all, status: 'error' })
      expect(failed.map((t) => t.traceId)).toEqual(['abandoned-5xx', 'failed'])
      expect(failed.map((t) => t.errorCount)).toEqual([1, 3])
      // the matching span must have failed: reviews was only cut off in the abandoned traces
      expect((await search({ ...all, service: 'reviews', status: 'error' })).map((t) => t.traceId)).toEqual([
        'failed',
      ])
      expect((await search({ ...all, service: 'pricing', status: 'error' })).map((t) => t.traceId)).toEqual([
        'abandoned-5xx',
      ])
    })

    it('finds failed traces behind more than a page of abandoned ones', async () => {
      const spans: SpanRecord[] = []
      for (let i = 0; i < 2; i++)
        spans.push(span(`failed-${i}`, 'gw', { startTimeMs: T0 + i, statusCode: 2, httpStatus: 503 }))
      // 150 newer abandoned traces whose cut-off spans fill the error index's first page (100 spans)
      for (let i = 0; i < 150; i++) {
        const t = `abandoned-${String(i).padStart(3, '0')}`
        spans.push(
          span(t, 'gw', {
            startTimeMs: T0 + 100 + i,
            httpStatus: 499,
            attributes: { 'vigil.outcome': 'client_abort' },
          }),
          span(t, 'shop', {
            parentSpanId: 'gw',
            source: 'otlp',
            route: '',
            service: 'shop',
            startTimeMs: T0 + 100.5 + i,
            statusCode: 2,
            httpStatus: null,
          }),
        )
      }
      await store.writeSpans(spans)
      const failed = await search({ fromMs: T0, toMs: T0 + 10_000, status: 'error', limit: 2 })
      expect(failed.map((t) => t.traceId)).toEqual(['failed-1', 'failed-0'])
      expect(failed.every((t) => !t.abandoned && t.errorCount === 1)).toBe(true)
    })

    it('upserts service-graph rows per window and queries them by window start', async () => {
      const sk = emptySketch()
      sk.accept(12)
      const row = (start: number, from: string, to: string, calls: number) => ({
        windowStartMs: start,
        windowMs: W,
        from,
        to,
        calls,
        errors: 1,
        latencySketch: encodeSketch(sk),
      })
      await store.writeGraphRows([row(T0, 'shop|onprem', 'pricing|aws', 10), row(T0, '', 'pricing|aws', 10)])
      await store.writeGraphRows([
        row(T0, 'shop|onprem', 'pricing|aws', 12),
        row(T0 + W, 'shop|onprem', 'pricing|aws', 3),
      ])
      const rows = await store.queryGraphRows(T0, T0 + W)
      expect(rows.map((r) => [r.from, r.to, r.calls])).toEqual([
        ['', 'pricing|aws', 10],
        ['shop|onprem', 'pricing|aws', 12],
      ])
      expect(decodeSketch(rows[1].latencySketch).count).toBe(1)
      expect(await store.queryGraphRows(T0, T0 + 2 * W)).toHaveLength(3)
      const res = await store.prune(T0 + 3 * W, { ...DEFAULT_RETENTION_MS, graph: 2 * W + 1 })
      expect(res.graph).toBe(2)
      expect(await store.queryGraphRows(0, T0 + 10 * W)).toHaveLength(1)
    })

    it('appends events and queries them newest first by kind and time', async () => {
      await store.appendEvents([
        { atMs: T0, kind: 'config.reload', actor: 'admin', subject: 'vigil.yaml', payload: { routes: 3 } },
        {
          atMs: T0 + 1,
          kind: 'limit.change',
          actor: 'control',
          subject: 'orders',
          payload: { ratePerSec: 50 },
        },
        { atMs: T0 + 2, kind: 'limit.change', actor: 'control', subject: 'users', payload: null },
      ])
      const all = await store.queryEvents()
      expect(all.map((e) => e.atMs - T0)).toEqual([2, 1, 0])
      expect(all[2].payload).toEqual({ routes: 3 })
      expect(typeof all[0].id).toBe('number')
      const limits = await store.queryEvents({ kind: 'limit.change', fromMs: T0 + 1, toMs: T0 + 2 })
      expect(limits.map((e) => e.subject)).toEqual(['orders'])
      expect(await store.queryEvents({ limit: 1 })).toHaveLength(1)
    })

    it('stores audit events once by id and pages through them by actor, kind and time', async () => {
      const ev = (id: string, at: number, kind: string, actor = 'ops') => ({
        id,
        atMs: T0 + at,
        kind,
        actor,
        subject: 'STD',
        before: { ratePerSec: 10 },
        after: { ratePerSec: at },
        reason: `r${id}`,
      })
      await store.appendAudit([
        ev('e1', 0, 'limits.tier.update'),
        ev('e2', 1, 'limits.key.create', 'alice'),
        ev('e3', 1, 'limits.key.revoke'),
        ev('e4', 2, 'limits.controls.set', 'control:abusive-clients'),
      ])
      await store.appendAudit([{ ...ev('e1', 0, 'limits.tier.update'), reason: 'redelivered' }])
      const all = await store.queryAudit()
      expect(all.map((e) => e.id)).toEqual(['e4', 'e3', 'e2', 'e1'])
      expect(all[3]).toEqual(ev('e1', 0, 'limits.tier.update'))
      const ids = async (q: Parameters<Store['queryAudit']>[0]) =>
        (await store.queryAudit(q)).map((e) => e.id)
      expect(await ids({ actor: 'ops' })).toEqual(['e3', 'e1'])
      expect(await ids({ kind: 'limits.key.*' })).toEqual(['e3', 'e2'])
      expect(await ids({ kind: 'limits.key' })).toEqual([])
      expect(await ids({ fromMs: T0 + 1, toMs: T0 + 2 })).toEqual(['e3', 'e2'])
      const page1 = await store.queryAudit({ limit: 2 })
      const last = page1[page1.length - 1]
      expect(await ids({ limit: 2, after: { atMs: last.atMs, id: last.id } })).toEqual(['e2', 'e1'])
      const res = await store.prune(T0 + 90_000, { ...DEFAULT_RETENTION_MS, events: 90_000 - 2 })
      expect(res.events).toBe(3)
      expect(await ids({})).toEqual(['e4'])
    })

    it('prunes each table by its own retention', async () => {
      await store.writeWindow([rollupOf('gw-a', orders, T0, [1]), rollupOf('gw-a', orders, T0 + 60_000, [1])])
      await store.writeSpans([
        span('old', 's', { startTimeMs: T0 }),
        span('new', 's', { startTimeMs: T0 + 60_000 }),
      ])
      await store.appendEvents([
        { atMs: T0, kind: 'k', actor: 'a', subject: 's', payload: {} },
        { atMs: T0, kind: 'forecast', actor: 'control', subject: 's', payload: {} },
        { atMs: T0 + 60_000, kind: 'forecast', actor: 'control', subject: 's', payload: {} },
      ])
      const now = T0 + 90_000
      const res = await store.prune(now, {
        ...DEFAULT_RETENTION_MS,
        raw: 60_000,
        spans: 60_000,
        forecasts: 60_000,
      })
      expect(res.raw).toBe(1)
      expect(res.spans).toBe(1)
      expect(res.window).toBe(0)
      expect(res.events).toBe(0)
      expect(res.forecasts).toBe(1)
      expect((await store.queryEvents({ kind: 'forecast' })).map((e) => e.atMs)).toEqual([T0 + 60_000])
      expect(await store.queryEvents({ kind: 'k' })).toHaveLength(1)
      expect(await store.queryRaw(orders, 0, now)).toHaveLength(1)
      expect(await store.queryPoints(orders, 0, now, 'window')).toHaveLength(2)
      expect(await store.spansByTrace('old')).toEqual([])
    })

    it('fences actions: only the current token writes, and a refused batch writes nothing', async () => {
      const t1 = await store.advanceFence()
      const t2 = await store.advanceFence()
      expect(t2).toBe(t1 + 1)
      await store.appendActions([action('a1', T0, t2)])
      await expect(store.appendActions([action('a2', T0 + 1, t1)])).rejects.toMatchObject({
        code: 'VGL_ERR_STORE_FENCED',
      })
      await expect(
        store.appendActions([action('a3', T0 + 2, t2), action('a4', T0 + 3, t1)]),
      ).rejects.toMatchObject({ code: 'VGL_ERR_STORE_FENCED' })
      expect((await store.queryActions()).map((a) => a.id)).toEqual(['a1'])
      const t3 = await store.advanceFence()
      await expect(store.appendActions([action('a5', T0 + 4, t2)])).rejects.toMatchObject({
        code: 'VGL_ERR_STORE_FENCED',
      })
      await store.appendActions([action('a5', T0 + 4, t3)])
      // a retried write of the same id never duplicates
      await store.appendActions([action('a5', T0 + 4, t3, { reason: 'again' })])
      const all = await store.queryActions()
      expect(all.map((a) => a.id)).toEqual(['a5', 'a1'])
      expect(all[0].reason).toBe('error ratio 0.31 > 0.05 for 2 windows')
      expect(all[1]).toEqual(action('a1', T0, t2))
    })

    it('queries actions by mode, policy, target, kind and time, newest first, page by page', async () => {
      const t = await store.advanceFence()
      await store.appendActions([
        action('b1', T0, t),
        action('b2', T0 + 10, t, {
          mode: 'shadow',
          result: { status: 'shadow' },
          kind: 'limits.multiplier',
          policy: 'forecast-pressure',
          target: 'service:orders',
        }),
        action('b3', T0 + 10, t, { kind: 'alert.resolved' }),
        action('b4', T0 + 20, t, { target: 'users|*|prod' }),
      ])
      const ids = async (q: Parameters<Store['queryActions']>[0]) =>
        (await store.queryActions(q)).map((a) => a.id)
      expect(await ids({})).toEqual(['b4', 'b3', 'b2', 'b1'])
      expect(await ids({ mode: 'shadow' })).toEqual(['b2'])
      expect(await ids({ policy: 'orders-errors' })).toEqual(['b4', 'b3', 'b1'])
      expect(await ids({ target: 'orders|*|prod', kind: 'alert.firing' })).toEqual(['b1'])
      expect(await ids({ fromMs: T0 + 10, toMs: T0 + 20 })).toEqual(['b3', 'b2'])
      const page1 = await store.queryActions({ limit: 2 })
      expect(page1.map((a) => a.id)).toEqual(['b4', 'b3'])
      const last = page1[page1.length - 1]
      expect(await ids({ limit: 2, after: { atMs: last.atMs, id: last.id } })).toEqual(['b2', 'b1'])
      expect(await ids({ after: { atMs: T0, id: 'b1' } })).toEqual([])
    })

    it('settles an action with its outcome, whatever the fence', async () => {
      const t = await store.advanceFence()
      await store.appendActions([action('c1', T0, t)])
      await store.advanceFence()
      expect(
        await store.settleAction('c1', {
          status: 'ok',
          detail: 'delivered to webhook',
          atMs: T0 + 5,
          data: { webhook: 'ok' },
        }),
      ).toBe(true)
      expect(await store.settleAction('nope', { status: 'ok' })).toBe(false)
      const [a] = await store.queryActions()
      expect(a.result).toEqual({
        status: 'ok',
        detail: 'delivered to webhook',
        atMs: T0 + 5,
        data: { webhook: 'ok' },
      })
    })

    it('keeps fenced control state per scope; null deletes', async () => {
      const t = await store.advanceFence()
      await store.putControlState(
        'alerts',
        [
          { key: 'fp1', data: { state: 'firing', since: T0 } },
          { key: 'fp2', data: { state: 'pending' } },
        ],
        t,
      )
      await store.putControlState('other', [{ key: 'fp1', data: 1 }], t)
      await store.putControlState(
        'alerts',
        [
          { key: 'fp2', data: null },
          { key: 'fp1', data: { state: 'resolved' } },
        ],
        t,
      )
      const got = await store.getControlState('alerts')
      expect(got.map((e) => [e.key, e.data])).toEqual([['fp1', { state: 'resolved' }]])
      expect(typeof got[0].updatedMs).toBe('number')
      await store.advanceFence()
      await expect(store.putControlState('alerts', [{ key: 'fp3', data: {} }], t)).rejects.toMatchObject({
        code: 'VGL_ERR_STORE_FENCED',
      })
      expect((await store.getControlState('alerts')).map((e) => e.key)).toEqual(['fp1'])
    })

    it('stores silences and acknowledgements', async () => {
      const silence = {
        id: 's1',
        matchers: [{ name: 'service', value: 'orders', isRegex: false, isEqual: true }],
        startsAtMs: T0,
        endsAtMs: T0 + 3_600_000,
        createdBy: 'ops',
        comment: 'deploy',
        createdAtMs: T0,
      }
      await store.putSilence(silence)
      await store.putSilence({ ...silence, id: 's2', endsAtMs: T0 + 60_000, createdAtMs: T0 + 1 })
      expect((await store.listSilences()).map((x) => x.id)).toEqual(['s2', 's1'])
      expect(await store.listSilences(T0 + 120_000)).toEqual([silence])
      await store.putSilence({ ...silence, comment: 'longer deploy' })
      expect((await store.listSilences(T0 + 120_000))[0].comment).toBe('longer deploy')
      expect(await store.deleteSilence('s2')).toBe(true)
      expect(await store.deleteSilence('s2')).toBe(false)

      const ack = { fingerprint: 'fp1', startsAtMs: T0, by: 'ops', comment: 'on it', atMs: T0 + 5 }
      await store.putAlertAck(ack)
      await store.putAlertAck({ ...ack, comment: 'still on it', atMs: T0 + 6 })
      await store.putAlertAck({ ...ack, fingerprint: 'fp2', atMs: T0 + 1 })
      expect(await store.listAlertAcks(T0 + 2)).toEqual([{ ...ack, comment: 'still on it', atMs: T0 + 6 }])
      expect(await store.listAlertAcks()).toHaveLength(2)
    })

    it('prunes the action log, old silences and acknowledgements by the actions retention', async () => {
      const t = await store.advanceFence()
      await store.appendActions([action('old', T0, t), action('new', T0 + 60_000, t)])
      const silence = {
        id: 'old',
        matchers: [],
        startsAtMs: T0,
        endsAtMs: T0 + 1,
        createdBy: 'ops',
        comment: '',
        createdAtMs: T0,
      }
      await store.putSilence(silence)
      await store.putSilence({ ...silence, id: 'new', endsAtMs: T0 + 80_000 })
      await store.putAlertAck({ fingerprint: 'fp', startsAtMs: T0, by: 'ops', comment: '', atMs: T0 })
      const res = await store.prune(T0 + 90_000, { ...DEFAULT_RETENTION_MS, actions: 60_000 })
      expect(res.actions).toBe(3)
      expect((await store.queryActions()).map((a) => a.id)).toEqual(['new'])
      expect((await store.listSilences()).map((x) => x.id)).toEqual(['new'])
      expect(await store.listAlertAcks()).toEqual([])
    })

    it('merges and stores a window of many series in one call', async () => {
      const batch: Rollup[] = []
      for (let i = 0; i < 500; i++)
        for (const gw of ['gw-a', 'gw-b'])
          batch.push(
            rollupOf(gw, { service: `svc${i % 7}`, route: `/r${i}`, env: 'prod' }, T0, [i + 1, i + 2]),
          )
      const points = await store.writeWindow(batch)
      expect(points).toHaveLength(500 + 7 + 1)
      const [global] = await store.queryPoints({ service: ALL, route: ALL, env: ALL }, T0, T0 + W, 'window')
      expect(global.count).toBe(2000)
    })
  })
}
