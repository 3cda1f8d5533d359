import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { serviceAvailable } from '../../../test/helpers/services.js'
import { captureOutput as capture } from '../../../test/helpers/cli.js'
import { run } from '../../cli/main.js'
import { forecastPressureSchema, anomalyPressureSchema } from '../../config/policies-schema.js'
import { PostgresStore } from '../../store/postgres.js'
import { SqliteStore } from '../../store/sqlite.js'
import type { Store, StoredEvent } from '../../store/index.js'
import { ANOMALY_OPENED, ANOMALY_RESOLVED, type AnomalyRecord } from '../anomalies.js'
import { FORECAST_EVENT, type StoredForecast } from '../forecasts.js'
import { AnomalyPressure } from './anomaly-pressure.js'
import { PolicyEngine, type PolicyActionInput } from './engine.js'
import { ForecastPressure } from './forecast-pressure.js'
import type { LimitPolicy } from './policy.js'
import { loadSignals, replayPolicy, signalOfEvent } from './replay.js'

const S = 1000
const M = 60_000
const T0 = Date.parse('2026-12-01T09:00:00Z')
const PG_URL = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const pgUp = await serviceAvailable('postgres')

/** A forecast event of `pay|*|prod` whose upper band peaks at `upper`. */
function forecastEvent(atMs: number, upper: number): StoredEvent {
  const payload: StoredForecast = {
    model: 'ets',
    stepMs: 10 * S,
    horizon: 30,
    level: 80,
    lastPointMs: atMs - 10 * S,
    points: Array.from({ length: 30 }, (_, h) => ({
      atMs: atMs + h * 10 * S,
      forecast: upper * 0.8,
      lower: 0,
      upper,
    })),
    backtest: [],
    failure: { errorRatio: null, p95: null },
  }
  return { atMs, kind: FORECAST_EVENT, actor: 'control', subject: 'pay|*|prod', payload }
}

/** 30 minutes of history: forecasts every 30 s, over budget from minute 6 to 14, an error anomaly 20–23. */
function history(): StoredEvent[] {
  const out: StoredEvent[] = []
  for (let t = 0; t < 30 * M; t += 30 * S) {
    const over = t >= 6 * M && t < 14 * M
    out.push(forecastEvent(T0 + t, over ? (t < 9 * M ? 230 : 310) : 120))
  }
  const a: AnomalyRecord = {
    id: `pay|*|prod#errors#${T0 + 20 * M}`,
    key: 'pay|*|prod',
    series: { service: 'pay', route: '*', env: 'prod' },
    level: 'service',
    metric: 'errors',
    state: 'open',
    openedAtMs: T0 + 20 * M,
    resolvedAtMs: null,
    observed: 0.3,
    expected: 0.01,
    low: 0,
    high: 0.02,
    score: 0.95,
    detector: 'poisson-tail',
    evidence: {},
    children: [],
  }
  out.push({ atMs: a.openedAtMs, kind: ANOMALY_OPENED, actor: 'control', subject: a.key, payload: a })
  out.push({
    atMs: T0 + 23 * M,
    kind: ANOMALY_RESOLVED,
    actor: 'control',
    subject: a.key,
    payload: { id: a.id, resolvedAtMs: T0 + 23 * M },
  })
  return out
}

const policies = (): LimitPolicy[] => [
  new ForecastPressure(forecastPressureSchema.parse({ holdMs: 2 * M, ttlMs: 6 * M }), {
    pay: { ratePerSec: 200 },
  }),
  new AnomalyPressure(anomalyPressureSchema.parse({ holdMs: 2 * M, ttlMs: 6 * M })),
]

/** The live engine on a fake clock, fed the same events at their times and ticked every 10 s. */
async function live(events: StoredEvent[]): Promise<PolicyActionInput[]> {
  let now = T0
  const logged: PolicyActionInput[] = []
  const engine = new PolicyEngine({
    policies: policies(),
    controls: null,
    actions: {
      async act(input) {
        logged.push(input)
        return { result: { status: 'shadow' } }
      },
    },
    now: () => now,
  })
  const signals = events.map((e) => signalOfEvent(e)).flatMap((s) => (s === null ? [] : [s]))
  signals.sort((a, b) => a.atMs - b.atMs)
  let i = 0
  for (let t = T0; t < T0 + 30 * M; t += 10 * S) {
    while (i < signals.length && signals[i].atMs <= t) {
      now = signals[i].atMs
      engine.signal(signals[i++].signal)
      await engine.run()
    }
    now = t
    await engine.run()
  }
  return logged
}

function stores(): [string, () => Promise<{ store: Store; cleanup: () => Promise<void> }>][] {
  const list: [string, () => Promise<{ store: Store; cleanup: () => Promise<void> }>][] = [
    [
      'SQLite',
      async () => {
        const store = await SqliteStore.open({ path: ':memory:' })
        return { store, cleanup: () => store.close() }
      },
    ],
  ]
  if (pgUp)
    list.push([
      'PostgreSQL',
      async () => {
        const store = await PostgresStore.open({
          url: PG_URL,
          schema: `vigil_test_${randomBytes(6).toString('hex')}`,
        })
        return {
          store,
          cleanup: async () => {
            await store.dropSchema()
            await store.close()
          },
        }
      },
    ])
  return list
}

describe('policy replay', () => {
  for (const [name, open] of stores()) {
    it(`makes the live engine's decisions from history stored in ${name}`, async () => {
      const { store, cleanup } = await open()
      try {
        const events = history()
        await store.appendEvents(events)
        const signals = await loadSignals(store, T0 - M, T0 + 30 * M)
        expect(signals).toHaveLength(events.length)
        const replayed = policies().flatMap(
          (p) => replayPolicy(p, signals, { fromMs: T0, toMs: T0 + 30 * M, stepMs: 10 * S }).decisions,
        )
        const liveActions = await live(events)
        const key = (x: { atMs: number; policy: string; target: string }, action: string) =>
          `${new Date(x.atMs).toISOString()} ${x.policy} ${x.target} ${action}`
        const fromLive = liveActions.map((a) => key(a, a.kind.slice('limits.'.length))).sort()
        const fromReplay = replayed.map((d) => key(d, d.action)).sort()
        expect(fromReplay).toEqual(fromLive)
        // what the history holds: up at 6 min, to step 3 at 9, renewed at half the 6 min expiry,
        // down step by step from 14 + the 2 min hold; defensive from 20 to 23 + the hold
        expect(fromReplay).toEqual(
          [
            '09:06:00 forecast-pressure service:pay apply',
            '09:09:00 forecast-pressure service:pay tighten',
            '09:12:00 forecast-pressure service:pay renew',
            '09:15:00 forecast-pressure service:pay renew',
            '09:16:00 forecast-pressure service:pay relax',
            '09:18:00 forecast-pressure service:pay relax',
            '09:20:00 anomaly-pressure service:pay apply',
            '09:20:00 forecast-pressure service:pay release',
            '09:23:00 anomaly-pressure service:pay renew',
            '09:25:00 anomaly-pressure service:pay release',
          ].map((l) => `2026-12-01T${l.replace(' ', '.000Z ')}`),
        )
      } finally {
        await cleanup()
      }
    })
  }

  it('takes anomalies at the time the live plane learnt of them: window end plus grace', async () => {
    const store = await SqliteStore.open({ path: ':memory:' })
    try {
      await store.appendEvents(history())
      const signals = await loadSignals(store, T0 + 19 * M, T0 + 30 * M, { windowMs: 10 * S, graceMs: 2 * S })
      const anomalies = signals.filter((s) => s.signal.kind !== 'forecast')
      expect(anomalies.map((s) => [s.signal.kind, s.atMs - T0])).toEqual([
        ['anomaly.opened', 20 * M + 12 * S],
        ['anomaly.resolved', 23 * M + 2 * S],
      ])
      // still in time order with the forecasts around them
      expect(signals.map((s) => s.atMs)).toEqual(signals.map((s) => s.atMs).sort((x, y) => x - y))
    } finally {
      await store.close()
    }
  })

  it('reports what was in force when the range began', async () => {
    const store = await SqliteStore.open({ path: ':memory:' })
    try {
      await store.appendEvents(history())
      const signals = await loadSignals(store, T0, T0 + 30 * M)
      const r = replayPolicy(policies()[0], signals, { fromMs: T0 + 10 * M, toMs: T0 + 30 * M })
      expect(r.inForceAtStart).toEqual([
        { target: 'service:pay', entries: expect.objectContaining({ 'services.pay.tiers.STD': 0.1 }) },
      ])
      expect(r.counts).toMatchObject({ relax: 2, release: 1 })
      expect(r.targets).toEqual({ 'service:pay': 3 })
    } finally {
      await store.close()
    }
  })
})

describe('vigil simulate policy', () => {
  let dir: string | null = null
  let dropPg: (() => Promise<void>) | null = null
  afterEach(async () => {
    vi.restoreAllMocks()
    if (dir !== null) rmSync(dir, { recursive: true, force: true })
    dir = null
    await dropPg?.()
    dropPg = null
  })

  /** A config file whose store holds `history()`: SQLite in a temp dir, or a fresh PostgreSQL schema. */
  async function configWithHistory(kind: 'sqlite' | 'postgres'): Promise<string> {
    dir = mkdtempSync(join(tmpdir(), 'vigil-replay-'))
    let storeLine: string
    if (kind === 'sqlite') {
      const db = join(dir, 'vigil.db')
      const store = await SqliteStore.open({ path: db })
      await store.appendEvents(history())
      await store.close()
      storeLine = `store: { kind: sqlite, path: ${JSON.stringify(db)} }`
    } else {
      const schema = `vigil_test_${randomBytes(6).toString('hex')}`
      const store = await PostgresStore.open({ url: PG_URL, schema })
      await store.appendEvents(history())
      dropPg = async () => {
        await store.dropSchema()
        await store.close()
      }
      storeLine = `store: { kind: postgres, url: ${JSON.stringify(PG_URL)}, schema: ${schema} }`
    }
    const file = join(dir, 'vigil.yaml')
    writeFileSync(
      file,
      [
        'services: { pay: { targets: [http://127.0.0.1:1] } }',
        'routes: [{ path: /pay, service: pay }]',
        storeLine,
        'limits: { enabled: true, services: { pay: { ratePerSec: 200, burst: 100 } } }',
        'policies: { forecastPressure: { holdMs: 2m, ttlMs: 6m } }',
        '',
      ].join('\n'),
    )
    return file
  }

  for (const kind of ['sqlite', 'postgres'] as const)
    it.skipIf(kind === 'postgres' && !pgUp)(
      `prints how often, when and why the policy would have acted (${kind})`,
      async () => {
        const file = await configWithHistory(kind)
        const io = capture()
        // the same range written three ways: ISO 8601, epoch ms, and relative to now
        const relFrom = `-${Math.ceil((Date.now() - T0) / 1000) + 60}s`
        const simulate = (...args: string[]) =>
          run(['simulate', 'policy', '--name', 'forecast-pressure', '--config', file, ...args])
        const codes = [
          await simulate('--from', new Date(T0).toISOString(), '--to', String(T0 + 30 * M)),
          await simulate('--from', String(T0), '--to', new Date(T0 + 30 * M).toISOString(), '--json'),
          await simulate('--from', relFrom, '--warmup', '0s', '--json'),
        ]
        vi.restoreAllMocks()
        expect(io.err()).toBe('')
        expect(codes).toEqual([0, 0, 0])
        const out = io.out()
        expect(out).toContain('policy forecast-pressure (mode shadow in the config)')
        expect(out).toContain(kind === 'sqlite' ? 'store sqlite ' : 'store postgres schema vigil_test_')
        expect(out).toContain('signals: 60 forecasts, 1 anomalies opened, 1 resolved')
        expect(out).toContain('decisions: 7 (apply 1, tighten 1, renew 2, relax 2, release 1)')
        expect(out).toMatch(
          /2026-12-01T09:06:00.000Z {2}service:pay {2}apply {2}step 1 of 3 {2}forecast upper band 230 req\/s within 5m vs budget 200 req\/s on pay/,
        )
        const [byEpoch, byRelative] = out
          .slice(out.indexOf('\n{'))
          .split(/\n(?=\{)/)
          .filter((j) => j !== '')
          .map((j) => JSON.parse(j) as { decisions: { atMs: number; action: string }[] })
        const seen = (r: { decisions: { atMs: number; action: string }[] }) =>
          r.decisions.map((d) => `${d.atMs} ${d.action}`)
        expect(seen(byEpoch)).toHaveLength(7)
        expect(seen(byRelative)).toEqual(seen(byEpoch))
      },
    )

  it('names a bad flag', async () => {
    const io = capture()
    expect(await run(['simulate', 'policy', '--name', 'nope', '--from=-1h'])).toBe(2)
    expect(await run(['simulate', 'policy', '--name', 'anomaly-pressure', '--from', 'yesterday'])).toBe(2)
    expect(await run(['simulate', 'policy', '--name', 'anomaly-pressure'])).toBe(2)
    expect(
      await run(['simulate', 'policy', '--name', 'anomaly-pressure', '--from', '-1h', '--to', '1796376161']),
    ).toBe(2)
    expect(
      await run(['simulate', 'policy', '--name', 'anomaly-pressure', '--from', '-1h', '--to', '-2h']),
    ).toBe(2)
    vi.restoreAllMocks()
    expect(io.err()).toContain(
      '--name: expected one of forecast-pressure, anomaly-pressure, abusive-clients, got "nope"',
    )
    expect(io.err()).toContain(
      '--from: expected ISO 8601 (2026-12-01T09:00Z), ms since the epoch, "now" or a time before now like -1h or -7d, got "yesterday"',
    )
    expect(io.err()).toMatch(/--from: expected ISO 8601 .* got nothing/)
    expect(io.err()).toContain('--to: "1796376161" read as ms since the epoch is 1970-01-21T18:59:36.161Z')
    expect(io.err()).toMatch(/--to: \S+ is not after --from/)
  })
})
