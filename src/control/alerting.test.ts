import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fillUp } from '../../test/helpers/full-store.js'
import { parseConfigText, type Config } from '../config/index.js'
import { SqliteStore } from '../store/index.js'
import { ActionLog } from './actions.js'
import { ALERT_FIRED, ALERT_RESOLVED, buildSilence, LiveAlerts, type SilenceInput } from './alerting.js'
import { soleLeadership } from './leadership.js'
import type { SeriesPoint } from './points.js'
import { StoreBacklog } from './store-backlog.js'

const input = (matchers: unknown): SilenceInput => ({
  matchers: matchers as SilenceInput['matchers'],
  endsAtMs: 2_000,
  createdBy: 'ops',
  comment: '',
})

describe('buildSilence', () => {
  it('names each bad matcher field as the config loader would', () => {
    expect(() => buildSilence(input([{ name: 'service', value: 'orders', bogus: 1 }]), 1_000)).toThrow(
      'matchers[0].bogus: unknown key "bogus"; remove it or check its spelling',
    )
    expect(() => buildSilence(input([{ name: 'env', value: 'prod' }, { value: 1 }]), 1_000)).toThrow(
      'matchers[1].name: missing; add it (text); matchers[1].value: expected text, got 1; send it as a string: "1"',
    )
    expect(() => buildSilence(input([{ name: '1x', value: 'a' }]), 1_000)).toThrow(
      'matchers[0].name: label names are letters, digits and _, got "1x"',
    )
  })

  it('keeps the text form and its own messages', () => {
    expect(buildSilence(input('service=orders'), 1_000).matchers).toEqual([
      { name: 'service', value: 'orders', isRegex: false, isEqual: true },
    ])
    expect(() => buildSilence(input([]), 1_000)).toThrow('matchers: give at least one, e.g. service="orders"')
  })
})

const T0 = 1_700_000_000_000

function windowOf(i: number, errors: number): SeriesPoint {
  return {
    startMs: T0 + i * 1_000,
    durationMs: 1_000,
    count: 100,
    ratePerSec: 100,
    errorRatio: errors / 100,
    upstreamErrorRatio: errors / 100,
    refused: 0,
    refused5xx: 0,
    limitedRatio: 0,
    timeouts: 0,
    connectErrors: 0,
    statusClass: [0, 100 - errors, 0, 0, errors],
    bytesIn: 0,
    bytesOut: 0,
    p50: 10,
    p95: 20,
    p99: 30,
    sources: 1,
  }
}

/** A config with one service and route, 1 s windows, and these alert rules and sinks (YAML). */
function alertsConfig(rules: string[], sinks: string[] = []) {
  return parseConfigText(
    [
      'env: prod',
      'services: { orders: { targets: [http://127.0.0.1:9001] } }',
      'routes: [ { path: /orders, service: orders } ]',
      'telemetry: { windowMs: 1000 }',
      'alerts:',
      '  rules:',
      ...rules.map((r) => `    - ${r}`),
      ...(sinks.length > 0 ? ['  sinks:', ...sinks.map((k) => `    - ${k}`)] : []),
    ].join('\n'),
    'vigil.yaml',
    {},
  )
}

/** The leader's alerting on `store`, alone, on the clock `now`; silences re-read only when changed. */
async function liveAlerts(config: Config, store: SqliteStore, now: () => number, backlog?: StoreBacklog) {
  const leadership = await soleLeadership(store, 'test')
  return new LiveAlerts({
    config,
    store,
    ...(backlog !== undefined ? { backlog } : {}),
    actions: new ActionLog({ store, leadership }),
    leadership,
    anomalies: null,
    forecasts: null,
    refreshMs: 3_600_000,
    now,
  })
}

describe('LiveAlerts reconfigure (a config reload)', () => {
  it('takes new rules, levels and sinks; keeps an unchanged sink, silences and the firing alert', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-alerts-reload-'))
    const configOf = (rules: string[], sinks: string[]) =>
      alertsConfig(
        rules,
        sinks.map((k) => `{ name: ${k}, kind: file, path: ${JSON.stringify(join(dir, `${k}.jsonl`))} }`),
      )
    const routeDown =
      '{ name: route-down, kind: failure, level: route, ratio: 0.5, for: 1 window, resolveFor: 1 window, sinks: [a] }'
    const store = await SqliteStore.open({ path: ':memory:' })
    let now = T0
    const alerts = await liveAlerts(configOf([routeDown], ['a']), store, () => now)
    const lines = (sink: string) =>
      readFileSync(join(dir, `${sink}.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { rule: string; status: string })
        .map((n) => `${n.rule} ${n.status}`)
    const route = { service: 'orders', route: '/orders', env: 'prod' }
    const service = { service: 'orders', route: '*', env: 'prod' }
    try {
      await alerts.start()
      const silence = await alerts.createSilence({
        matchers: 'env="staging"',
        endsAtMs: T0 + 3_600_000,
        createdBy: 'ops',
        comment: 'kept across the reload',
      })
      now = T0 + 1_000
      alerts.hook(route, windowOf(0, 90), { correction: false })
      await alerts.engine.idle()
      const [sinkA] = alerts.dispatchers
      alerts.reconfigure(
        configOf(
          [
            routeDown,
            '{ name: service-down, kind: failure, level: service, ratio: 0.5, for: 1 window, sinks: [b] }',
          ],
          ['a', 'b'],
        ),
      )
      now = T0 + 2_000
      alerts.hook(route, windowOf(1, 90), { correction: false })
      alerts.hook(service, windowOf(1, 90), { correction: false })
      await alerts.engine.idle()
      await alerts.stop()
      expect(alerts.dispatchers.map((d) => d.sink.name)).toEqual(['a', 'b'])
      expect(alerts.dispatchers[0]).toBe(sinkA)
      // the route's alert fired once (no second page after the reload), the new rule's went to b
      expect(lines('a')).toEqual(['route-down firing'])
      expect(lines('b')).toEqual(['service-down firing'])
      expect((await alerts.listSilences(false)).map((s) => s.id)).toEqual([silence.id])
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('LiveAlerts on a store that fills', () => {
  it('holds the firing and resolved events a full store refuses and writes them once it takes writes', async () => {
    const config = alertsConfig([
      '{ name: route-down, kind: failure, level: route, ratio: 0.5, for: 1 window, resolveFor: 1 window }',
    ])
    const store = await SqliteStore.open({ path: ':memory:' })
    let now = T0
    const backlog = new StoreBacklog()
    const alerts = await liveAlerts(config, store, () => now, backlog)
    try {
      await alerts.start()
      const series = { service: 'orders', route: '/orders', env: 'prod' }
      await fillUp(store) // the events table is full; actions and alert state still have room
      for (const [i, errors] of [
        [0, 0],
        [1, 90],
        [2, 0],
        [3, 0],
      ] as const) {
        now = T0 + (i + 1) * 1_000
        alerts.hook(series, windowOf(i, errors), { correction: false })
        await alerts.engine.idle()
      }
      await alerts.stop()
      expect(backlog.waiting).toBe(2)
      expect(await store.queryEvents({ kind: ALERT_FIRED })).toEqual([])
      store.limitPages(null)
      await backlog.drain()
      const kinds = (await store.queryEvents({ limit: 1_000 }))
        .filter((e) => e.kind !== 'filler')
        .reverse()
        .map((e) => e.kind)
      expect(kinds).toEqual([ALERT_FIRED, ALERT_RESOLVED])
    } finally {
      await store.close()
    }
  })
})
