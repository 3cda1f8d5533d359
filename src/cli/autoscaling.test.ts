import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { parseConfigText } from '../config/load.js'
import { VGL_ERR_CONTROL_SERIES_NOT_FOUND } from '../errors.js'
import type { ActionInput, ActionRecord } from '../control/actions.js'
import { LiveForecasts } from '../control/forecasts.js'
import type { SeriesPoint } from '../control/points.js'
import { observationOf, startAutoscaling } from './autoscaling.js'

const point = (over: Partial<SeriesPoint>): SeriesPoint => ({
  startMs: 1_000,
  durationMs: 10_000,
  count: 100,
  ratePerSec: 10,
  errorRatio: 0.5,
  upstreamErrorRatio: 0,
  refused: 50,
  refused5xx: 50,
  limitedRatio: 0,
  timeouts: 0,
  connectErrors: 0,
  statusClass: [0, 50, 0, 0, 50],
  bytesIn: 0,
  bytesOut: 0,
  p50: 20,
  p95: 40,
  p99: 60,
  sources: 1,
  ...over,
})

/** A control plane holding the `orders` roll-up up to `last`, whose action log takes anything. */
const shadowSource = (firstSeenMs: number, last: SeriesPoint) => ({
  listSeries: async () => [
    {
      key: 'orders|*|prod',
      series: { service: 'orders', route: '*', env: 'prod' },
      level: 'service' as const,
      firstSeenMs,
      lastSeenMs: last.startMs,
      last,
    },
  ],
  recordAction: async (input: ActionInput): Promise<ActionRecord> => ({
    ...input,
    before: input.before,
    after: input.after,
    evidence: input.evidence,
    id: 'a',
    atMs: 0,
    result: { status: 'shadow' },
    fencingToken: 1,
  }),
  settleAction: async () => undefined,
})

describe('the autoscaler observation of a service window', () => {
  it('learns from the requests that reached a replica, not the 503s the gateway answered itself', () => {
    expect(observationOf(point({}))).toEqual({
      atMs: 1_000,
      ratePerSec: 10,
      requests: 50,
      p95: 40,
      p99: 60,
      errorRatio: 0,
      refusedRatio: 0.5,
    })
  })

  it('a window without requests refuses nothing', () => {
    expect(observationOf(point({ count: 0, refused: 0, refused5xx: 0, ratePerSec: 0 }))).toMatchObject({
      requests: 0,
      refusedRatio: 0,
    })
  })
})

describe('the live autoscaler sizes on the forecast band at scale.level', () => {
  const W = 10_000
  /** noisy load around 100 req/s, ending with the window before the current one, a quiet one */
  const history = (): SeriesPoint[] => {
    const last = Math.floor(Date.now() / W) * W - W
    let s = 7
    const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647
    return Array.from({ length: 120 }, (_, i) =>
      point({
        startMs: last - (119 - i) * W,
        durationMs: W,
        ratePerSec: i === 119 ? 80 : 100 + 40 * (rnd() - 0.5),
      }),
    )
  }

  async function decide(level: number) {
    const config = parseConfigText(
      [
        'env: prod',
        'services:',
        '  orders:',
        '    targets: [http://127.0.0.1:9]',
        `    scale: { mode: shadow, min: 1, max: 100, capacityPerReplica: 5, targetUtilization: 1, level: ${level} }`,
        'routes: [{ path: /orders, service: orders }]',
      ].join('\n'),
      'vigil.yaml',
    )
    const points = history()
    const forecasts = new LiveForecasts({ stepMs: W, history: async () => points })
    const asked: (number | undefined)[] = []
    const started = await startAutoscaling(
      config,
      {
        ...shadowSource(points[0].startMs, points.at(-1)!),
        forecast: (key, horizon, lvl) => (asked.push(lvl), forecasts.forecast(key, horizon, lvl)),
      },
      { setTargets: async () => {} },
      pino({ level: 'silent' }),
    )
    try {
      await started!.autoscaler.tick()
      const d = (await started!.autoscaler.scaling('orders')).decisions[0]
      return { asked, d: d as typeof d & { evidence: { upper: number; level: number } } }
    } finally {
      await started!.close()
    }
  }

  it('asks the control plane for the band at scale.level; a higher level sizes for a higher band', async () => {
    const low = await decide(60)
    const high = await decide(99)
    expect(low.asked[0]).toBe(60)
    expect(high.asked[0]).toBe(99)
    expect(low.d.evidence.level).toBe(60)
    expect(high.d.evidence.level).toBe(99)
    expect(high.d.evidence.upper).toBeGreaterThan(low.d.evidence.upper)
    // the same fit and the same load: only the band's level changes the decision
    expect(high.d.desired).toBeGreaterThan(low.d.desired)
  })
})

describe('the live autoscaler replays the stored windows of the service when it starts leading', () => {
  const W = 10_000
  const config = parseConfigText(
    [
      'env: prod',
      'services:',
      '  orders:',
      '    targets: [http://127.0.0.1:9]',
      '    scale: { mode: shadow, min: 1, max: 10, capacityPerReplica: 50 }',
      'routes: [{ path: /orders, service: orders }]',
    ].join('\n'),
    'vigil.yaml',
  )
  const last = Math.floor(Date.now() / W) * W - W

  async function start(
    points: (key: string, fromMs: number, toMs: number, stepMs: number) => Promise<SeriesPoint[]>,
  ) {
    const warned: string[] = []
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => void warned.push(JSON.parse(line).msg) },
    )
    const started = await startAutoscaling(
      config,
      {
        ...shadowSource(last, point({ startMs: last, durationMs: W, ratePerSec: 20 })),
        points,
        forecast: async (key) => ({ status: 'insufficient_history', key, stepMs: W, have: 0, need: 60 }),
      },
      { setTargets: async () => {} },
      logger,
    )
    try {
      await started!.autoscaler.tick()
      return { s: await started!.autoscaler.scaling('orders'), warned }
    } finally {
      await started!.close()
    }
  }

  it('reads the service roll-up’s windows before the live one, at the window’s step, as observations', async () => {
    const asked: [string, number, number, number][] = []
    const { s, warned } = await start(async (key, fromMs, toMs, stepMs) => {
      asked.push([key, fromMs, toMs, stepMs])
      return Array.from({ length: 30 }, (_, i) =>
        point({ startMs: last - (30 - i) * W, durationMs: W, ratePerSec: 20 }),
      )
    })
    expect(asked).toHaveLength(1)
    const [key, fromMs, toMs, stepMs] = asked[0]
    expect([key, toMs, stepMs]).toEqual(['orders|*|prod', last, W])
    // 12 h of windows (the default 5 min stabilisation window is less)
    expect(toMs - fromMs).toBe(4_320 * W)
    expect(s.replayed).toMatchObject({ windows: 30, fromMs: last - 30 * W, toMs: last })
    expect(warned).toEqual([])
  })

  it('a series the store never saw is no windows, not an error; a store error is logged', async () => {
    const unknown = await start(async (key) => {
      throw VGL_ERR_CONTROL_SERIES_NOT_FOUND(key)
    })
    expect(unknown.s.replayed).toBeNull()
    expect(unknown.warned).toEqual([])
    const failing = await start(async () => {
      throw new Error('SQLITE_BUSY: database is locked')
    })
    expect(failing.s.replayed).toBeNull()
    expect(failing.warned).toEqual([
      'autoscale orders: stored windows not read; scale-downs below the replicas running wait for a stabilisation window of live windows',
    ])
  })
})

describe("the live autoscaler's log", () => {
  it('an actuator that cannot start a replica: one error line with the cause and what to check', async () => {
    const W = 10_000
    const config = parseConfigText(
      [
        'env: prod',
        'store: { kind: sqlite, path: ":memory:" }',
        'services:',
        '  orders:',
        '    targets: [http://127.0.0.1:9]',
        '    scale:',
        '      { mode: enforce, min: 1, max: 3, capacityPerReplica: 50,',
        '        actuator: { kind: process, command: [/nonexistent/vigil-replica, --port, $PORT] } }',
        'routes: [{ path: /orders, service: orders }]',
      ].join('\n'),
      'vigil.yaml',
    )
    const last = Math.floor(Date.now() / W) * W - W
    const errors: string[] = []
    const logger = pino(
      { level: 'error' },
      { write: (line: string) => void errors.push(JSON.parse(line).msg) },
    )
    const started = await startAutoscaling(
      config,
      {
        ...shadowSource(last, point({ startMs: last, durationMs: W, ratePerSec: 0 })),
        forecast: async (key) => ({ status: 'insufficient_history', key, stepMs: W, have: 0, need: 60 }),
      },
      { setTargets: async () => {} },
      logger,
    )
    try {
      for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((ok) => setTimeout(ok, 100))
      expect(errors).toEqual([
        'autoscaler: the process actuator failed: cannot start "/nonexistent/vigil-replica": spawn /nonexistent/vigil-replica ENOENT; ' +
          'check services.orders.scale.actuator.command: "/nonexistent/vigil-replica" must be an executable on ' +
          "Vigil's PATH or an absolute path, runnable by its user",
      ])
    } finally {
      await started!.close()
    }
  }, 20_000)
})
