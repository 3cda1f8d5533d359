import { createServer } from 'node:http'
import { describe, expect, it } from 'vitest'
import { alertsSchema, holdMs } from '../config/alerts-schema.js'
import type { ActionRecord, StoredSilence } from '../store/index.js'
import { SinkDispatcher } from './dispatcher.js'
import { AlertEngine, type AlertActionPort, type AlertEngineOptions } from './engine.js'
import { alertView } from './payload.js'
import { createSink, type Sink } from './sinks.js'
import type { HeldNotification } from './undelivered.js'
import { evaluateRule, quickInactive } from './rules.js'
import type { Alert, AlertPoint, Notification, WindowInput } from './types.js'

const W = 1_000
const T0 = 1_700_000_000_000

/** `errors`: every 5xx, `refused5xx` of them the gateway's own (among `refused` it answered itself). */
function point(i: number, over: Partial<AlertPoint> & { errors?: number } = {}): AlertPoint {
  const count = over.count ?? 100
  const errors = over.errors ?? 1
  const refused = over.refused ?? 0
  const refused5xx = over.refused5xx ?? 0
  return {
    startMs: T0 + i * W,
    durationMs: W,
    count,
    ratePerSec: count,
    errorRatio: errors / count,
    upstreamErrorRatio: count > refused ? (errors - refused5xx) / (count - refused) : 0,
    refused,
    refused5xx,
    limitedRatio: 0,
    timeouts: 0,
    connectErrors: 0,
    statusClass: [0, count - errors, 0, 0, errors],
    p50: 20,
    p95: 50,
    p99: 80,
    ...over,
  }
}

const series = { service: 'orders', route: '*', env: 'prod' }
const input = (p: AlertPoint, over: Partial<WindowInput> = {}): WindowInput => ({
  series,
  key: 'orders|*|prod',
  level: 'service',
  point: p,
  expected: null,
  anomalies: [],
  forecast: null,
  ...over,
})

class RecordingSink implements Sink {
  readonly kind = 'webhook' as const
  readonly describe = 'test'
  readonly got: Notification[][] = []
  fail: (() => Error) | null = null
  constructor(readonly name = 'hook') {}
  async send(batch: readonly Notification[]): Promise<void> {
    if (this.fail !== null) throw this.fail()
    this.got.push([...batch])
  }
  async close(): Promise<void> {}
}

class MemoryActions implements AlertActionPort {
  readonly records = new Map<string, ActionRecord>()
  refuse: string | null = null
  async record(i: Parameters<AlertActionPort['record']>[0]): Promise<ActionRecord> {
    if (this.refuse !== null) throw Object.assign(new Error('refused'), { code: this.refuse })
    const rec: ActionRecord = {
      ...i,
      atMs: i.atMs ?? 0,
      result: i.mode === 'shadow' ? { status: 'shadow' } : { status: 'pending' },
      fencingToken: 1,
    }
    if (!this.records.has(rec.id)) this.records.set(rec.id, rec)
    return this.records.get(rec.id)!
  }
  async settle(rec: ActionRecord, result: { status: 'ok' | 'failed'; detail?: string }): Promise<unknown> {
    this.records.set(rec.id, { ...rec, result })
    return null
  }
}

function engine(
  rulesYaml: unknown[],
  over: Partial<AlertEngineOptions> = {},
  extra: Record<string, unknown> = {},
) {
  const cfg = alertsSchema.parse({ rules: rulesYaml, ...extra })
  const sink = new RecordingSink()
  const dispatcher = new SinkDispatcher(sink, {
    maxQueue: 100,
    maxAttempts: 3,
    backoffMs: 1,
    maxBackoffMs: 2,
  })
  const actions = new MemoryActions()
  const saved = new Map<string, Alert>()
  const transitions: string[] = []
  const e = new AlertEngine({
    rules: cfg.rules,
    windowMs: W,
    repeatIntervalMs: cfg.repeatInterval,
    staleAfterMs: holdMs(cfg.staleAfter, W),
    keepResolvedMs: cfg.keepResolved,
    linkBase: 'http://admin',
    context: { budgets: { orders: 500 } },
    actions,
    state: {
      load: async () => [...saved.values()].map((a) => structuredClone(a)),
      save: async (changed, deleted) => {
        for (const a of changed) saved.set(a.fingerprint, structuredClone(a))
        for (const fp of deleted) saved.delete(fp)
      },
    },
    dispatchers: [dispatcher],
    onTransition: (a, from, to) => transitions.push(`${a.rule} ${from}->${to} @${(a.lastEvalMs - T0) / W}`),
    ...over,
  })
  return { e, sink, actions, saved, transitions, cfg }
}

const failure = {
  name: 'down',
  kind: 'failure',
  ratio: 0.5,
  for: '2 windows',
  resolveFor: '2 windows',
  minRequests: 5,
}

/** Waits (up to 5 s) for deliveries and settles, which run after the engine is idle. */
async function settled(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10))
}

/** What a reload hands the engine: the rules parsed as the config loader does, these sinks. */
const settingsOf = (rules: unknown[], dispatchers: SinkDispatcher[]) => {
  const cfg = alertsSchema.parse({ rules })
  return {
    rules: cfg.rules,
    repeatIntervalMs: cfg.repeatInterval,
    staleAfterMs: holdMs(cfg.staleAfter, W),
    keepResolvedMs: cfg.keepResolved,
    linkBase: 'http://admin',
    dispatchers,
  }
}

async function run(e: AlertEngine, inputs: WindowInput[]): Promise<void> {
  for (const i of inputs) {
    e.evaluate(i)
    await e.idle()
  }
}

/** Windows closed together (one window of several series): judged as one batch. */
async function closeTogether(e: AlertEngine, inputs: WindowInput[]): Promise<void> {
  for (const i of inputs) e.evaluate(i)
  await e.idle()
}

describe('AlertEngine lifecycle', () => {
  it('goes pending, fires after `for`, resolves after `resolveFor`, paging firing and resolved once each', async () => {
    const { e, sink, actions, transitions } = engine([failure])
    await e.start()
    const seq = [1, 1, 80, 80, 80, 80, 1, 1, 1].map((err, i) => input(point(i, { errors: err })))
    await run(e, seq)
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(transitions).toEqual([
      'down inactive->pending @3',
      'down pending->firing @4',
      'down firing->resolved @8',
    ])
    const events = sink.got.flat().map((n) => `${n.event}@${n.alert.state}`)
    expect(events).toEqual(['firing@firing', 'resolved@resolved'])
    const firing = sink.got[0][0]
    expect(firing.alert.evidence).toMatchObject({
      rule: 'down',
      metric: 'failedRatio',
      observed: 0.8,
      threshold: 0.5,
      key: 'orders|*|prod',
      windowStartMs: T0 + 3 * W,
    })
    expect(firing.alert.evidence.summary).toMatch(/80% of 100 requests failed/)
    expect(firing.alert.evidence.links.points).toMatch(
      /^http:\/\/admin\/api\/series\/orders%7C\*%7Cprod\/points/,
    )
    expect(firing.alert.labels).toMatchObject({
      alertname: 'down',
      service: 'orders',
      env: 'prod',
      severity: 'warning',
    })
    // every notification is an action, settled with its delivery
    const recs = [...actions.records.values()]
    expect(recs.map((r) => [r.kind, r.result.status])).toEqual([
      ['alert.firing', 'ok'],
      ['alert.resolved', 'ok'],
    ])
  })

  it('does not fire on a single bad window with for: 2 windows, and keeps state on no data', async () => {
    const { e, sink, actions, transitions } = engine([failure])
    await run(e, [
      input(point(0, { errors: 90 })),
      input(point(1, { errors: 1 })),
      input(point(2, { errors: 90 })),
      input(point(3, { count: 2, errors: 2 })), // too few requests: no data, still pending
      input(point(4, { errors: 90 })),
    ])
    expect(transitions).toEqual([
      'down inactive->pending @1',
      'down pending->inactive @2',
      'down inactive->pending @3',
      'down pending->firing @5',
    ])
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(sink.got.flat().map((n) => n.event)).toEqual(['firing'])
  })

  it('pages a re-fire after its resolution went out (a new run), and repeats an unacknowledged alert', async () => {
    const { e, sink, actions } = engine(
      [{ ...failure, for: '1 window', resolveFor: '1 window' }],
      {},
      { repeatInterval: 10_000 },
    )
    const bad = (i: number) => input(point(i, { errors: 90 }))
    const good = (i: number) => input(point(i, { errors: 1 }))
    // the second burst comes 2 s after the first page, well inside the repeat interval: its
    // receivers were told "resolved", so it is news to them and pages, and so does its end
    await run(e, [bad(0), good(1), bad(2), good(3)])
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(sink.got.flat().map((n) => `${n.event} ${(n.alert.firingAtMs! - T0) / W}`)).toEqual([
      'firing 0',
      'resolved 0',
      'firing 2',
      'resolved 2',
    ])
    expect(e.alerts({ state: 'all' })[0]).toMatchObject({ state: 'resolved', suppressed: null })
    expect([...actions.records.keys()].filter((id) => id.endsWith(':firing'))).toHaveLength(2)
    // a long burst: repeated every 10 s while firing
    await run(
      e,
      Array.from({ length: 22 }, (_, k) => bad(20 + k)),
    )
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(sink.got.flat().map((n) => n.event)).toEqual([
      'firing',
      'resolved',
      'firing',
      'resolved',
      'firing',
      'repeat',
      'repeat',
    ])
    expect(sink.got.flat()[5].id).toMatch(/:repeat:1$/)
  })

  it('a re-fire judged with the window that resolved it sends that resolution first, then pages', async () => {
    const { e, sink, actions } = engine([{ ...failure, for: '1 window', resolveFor: '1 window' }])
    const bad = (i: number) => input(point(i, { errors: 90 }))
    const good = (i: number) => input(point(i, { errors: 1 }))
    await run(e, [bad(0)])
    // a backlog: the recovery and the next burst are judged in one batch
    await closeTogether(e, [good(1), bad(2)])
    await settled(() => sink.got.flat().length >= 3)
    // one request: the first run's end before the second run's start (Alertmanager keeps the later)
    expect(sink.got.at(-1)!.map((n) => `${n.event} ${(n.alert.firingAtMs! - T0) / W}`)).toEqual([
      'resolved 0',
      'firing 2',
    ])
    await run(e, [good(3)])
    await settled(
      () =>
        sink.got.flat().length >= 4 &&
        [...actions.records.values()].every((r) => r.result.status !== 'pending'),
    )
    expect(sink.got.flat().map((n) => n.event)).toEqual(['firing', 'resolved', 'firing', 'resolved'])
    expect([...actions.records.values()].map((r) => r.kind)).toEqual([
      'alert.firing',
      'alert.resolved',
      'alert.firing',
      'alert.resolved',
    ])
  })

  it('the resolution a pending re-fire replaced goes out once, whether the new run fires or not', async () => {
    const { e, sink, actions } = engine([{ ...failure, for: '2 windows', resolveFor: '1 window' }])
    const bad = (i: number) => input(point(i, { errors: 90 }))
    const good = (i: number) => input(point(i, { errors: 1 }))
    await run(e, [bad(0), bad(1)])
    await closeTogether(e, [good(2), bad(3)]) // resolved, and a new run pending in the same batch
    await run(e, [good(4)]) // the new run never fires: the resolved one comes back
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(e.alerts({ state: 'all' })[0]).toMatchObject({
      state: 'resolved',
      firingAtMs: T0 + W,
      notified: { firing: true, resolved: true },
    })
    await run(e, [good(5)])
    await new Promise((r) => setTimeout(r, 50))
    expect(sink.got.flat().map((n) => n.event)).toEqual(['firing', 'resolved'])
  })

  it('an acknowledged alert is not repeated', async () => {
    const { e, sink, actions } = engine(
      [{ ...failure, for: '1 window', resolveFor: '1 window' }],
      {},
      { repeatInterval: 5_000 },
    )
    await run(e, [input(point(0, { errors: 90 }))])
    const a = e.alerts()[0]
    expect(
      e.ack({ fingerprint: a.fingerprint, startsAtMs: a.firingAtMs!, by: 'ops', comment: 'on it', atMs: 1 }),
    ).not.toBeNull()
    await run(
      e,
      Array.from({ length: 12 }, (_, k) => input(point(1 + k, { errors: 90 }))),
    )
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(sink.got.flat().map((n) => n.event)).toEqual(['firing'])
    expect(e.get(a.fingerprint)?.ack).toMatchObject({ by: 'ops' })
  })

  it('a silenced alert is not sent; it is sent when the silence ends while it still fires', async () => {
    let silences: StoredSilence[] = [
      {
        id: 's1',
        matchers: [{ name: 'service', value: 'ord.*', isRegex: true, isEqual: true }],
        startsAtMs: 0,
        endsAtMs: T0 + 5 * W,
        createdBy: 'ops',
        comment: 'deploy',
        createdAtMs: 0,
      },
    ]
    const { e, sink, actions } = engine([{ ...failure, for: '1 window', resolveFor: '1 window' }], {
      silences: () => silences,
    })
    await run(
      e,
      [0, 1, 2].map((i) => input(point(i, { errors: 90 }))),
    )
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(sink.got).toEqual([])
    expect(actions.records.size).toBe(0)
    expect(e.alerts()[0]).toMatchObject({ state: 'firing', suppressed: 'silenced', silencedBy: 's1' })
    await run(
      e,
      [3, 4, 5].map((i) => input(point(i, { errors: 90 }))),
    )
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(sink.got.flat().map((n) => n.event)).toEqual(['firing'])
    silences = []
  })

  it('a restart neither forgets a firing alert nor pages it again', async () => {
    const first = engine([{ ...failure, for: '1 window', resolveFor: '1 window' }])
    await run(first.e, [input(point(0, { errors: 90 })), input(point(1, { errors: 90 }))])
    await first.e.close()
    await settled(() => [...first.actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(first.sink.got.flat().map((n) => n.event)).toEqual(['firing'])
    // a new engine on the same state and action log
    const second = engine([{ ...failure, for: '1 window', resolveFor: '1 window' }], {
      state: {
        load: async () => [...first.saved.values()],
        save: async (changed) => {
          for (const a of changed) first.saved.set(a.fingerprint, a)
        },
      },
      actions: first.actions,
    })
    await second.e.start()
    expect(second.e.alerts()[0]).toMatchObject({ state: 'firing', notified: { firing: true } })
    await run(second.e, [input(point(2, { errors: 90 })), input(point(3, { errors: 1 }))])
    await settled(() => [...first.actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(second.sink.got.flat().map((n) => n.event)).toEqual(['resolved'])
  })

  it('shadow rules record what they would send and send nothing', async () => {
    const { e, sink, actions } = engine([
      { ...failure, for: '1 window', resolveFor: '1 window', mode: 'shadow' },
    ])
    await run(e, [input(point(0, { errors: 90 })), input(point(1, { errors: 1 }))])
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(sink.got).toEqual([])
    expect([...actions.records.values()].map((r) => [r.kind, r.mode, r.result.status])).toEqual([
      ['alert.firing', 'shadow', 'shadow'],
      ['alert.resolved', 'shadow', 'shadow'],
    ])
  })

  it('sends nothing when the action is refused (fenced), and does not mark it sent', async () => {
    const { e, sink, actions } = engine([{ ...failure, for: '1 window', resolveFor: '1 window' }], {
      onError: () => {},
    })
    actions.refuse = 'VGL_ERR_STORE_FENCED'
    await run(e, [input(point(0, { errors: 90 }))])
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(sink.got).toEqual([])
    expect(e.alerts()[0].notified.firing).toBe(false)
    expect(e.stats.refused).toBe(1)
  })

  it('records a delivery failure in the action, with the sink and why', async () => {
    const { e, sink, actions } = engine([{ ...failure, for: '1 window', resolveFor: '1 window' }], {
      onError: () => {},
    })
    sink.fail = () => new Error('connect ECONNREFUSED 127.0.0.1:9')
    await run(e, [input(point(0, { errors: 90 }))])
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    const [rec] = [...actions.records.values()]
    expect(rec.result.status).toBe('failed')
    expect((rec.result as { detail: string }).detail).toMatch(
      /not delivered to hook \(connect ECONNREFUSED.*after 3 tries; held, sent again when it answers\)/,
    )
  })
})

describe('AlertEngine: a notification a sink never took', () => {
  /** A real HTTP receiver: 503 while `down`, else 200; keeps each body it took. */
  async function receiver() {
    const took: { status: string; alerts: { status: string }[] }[] = []
    const r = { down: true, took, url: '', close: () => new Promise((ok) => srv.close(ok)) }
    const srv = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        if (!r.down) took.push(JSON.parse(body) as (typeof took)[number])
        res.statusCode = r.down ? 503 : 200
        res.end()
      })
    })
    await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok))
    r.url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/hook`
    return r
  }

  it('is held past its retries (saved), and only its newest state goes out once the receiver is back, even after a restart', async () => {
    const r = await receiver()
    const held = new Map<string, HeldNotification>()
    const heldStore = {
      load: async () => [...held.values()].map((h) => structuredClone(h)),
      save: async (entries: { key: string; data: HeldNotification | null }[]) => {
        for (const x of entries)
          if (x.data === null) held.delete(x.key)
          else held.set(x.key, structuredClone(x.data))
      },
    }
    const hook = () =>
      new SinkDispatcher(
        createSink({ name: 'hook', kind: 'webhook', url: r.url, timeoutMs: 2_000 } as never),
        {
          maxQueue: 100,
          maxAttempts: 2,
          backoffMs: 1,
          maxBackoffMs: 2,
        },
      )
    const rule = { ...failure, for: '1 window', resolveFor: '1 window' }
    const d1 = hook()
    const first = engine([rule], { dispatchers: [d1], held: heldStore, onError: () => {} })
    const { e, actions } = first
    try {
      await e.start()
      await run(e, [input(point(0, { errors: 90 })), input(point(1, { errors: 0 }))])
      await settled(() => [...actions.records.values()].every((x) => x.result.status !== 'pending'))
      // the firing, then its resolved, given up on: only the resolved is held, and saved
      expect([...actions.records.values()].map((x) => [x.kind, x.result.status])).toEqual([
        ['alert.firing', 'failed'],
        ['alert.resolved', 'failed'],
      ])
      expect(e.undelivered.count('hook')).toBe(1)
      expect([...held.values()].map((h) => h.event)).toEqual(['resolved'])
      expect(e.alerts({ state: 'all' })[0].notified.undelivered).toEqual([
        { sink: 'hook', event: 'resolved', sinceMs: expect.any(Number) },
      ])
      // the slow retry while the receiver is still down: still held
      e.undelivered.retry()
      await settled(() => d1.stats.failed === 3)
      expect(d1.stats.failed).toBe(3)
      expect(e.undelivered.count()).toBe(1)
    } finally {
      await e.close()
    }

    // a restart: a new engine over the same store, the receiver back
    r.down = false
    const second = engine([rule], {
      dispatchers: [hook()],
      held: heldStore,
      actions,
      state: {
        load: async () => [...first.saved.values()].map((a) => structuredClone(a)),
        save: async () => {},
      },
    })
    try {
      await second.e.start()
      expect(second.e.undelivered.count()).toBe(1)
      second.e.undelivered.retry()
      await settled(() => held.size === 0)
      expect(r.took.map((b) => b.status)).toEqual(['resolved'])
      const resolved = [...actions.records.values()].find((x) => x.kind === 'alert.resolved')!
      expect(resolved.result).toMatchObject({
        status: 'ok',
        detail: expect.stringMatching(/^delivered to hook \(re-sent once it answered, .* late\)$/),
      })
      expect(second.e.undelivered.count()).toBe(0)
    } finally {
      await second.e.close()
      await r.close()
    }
  })

  it('follows a reload: a changed sink re-sends what is held through its new dispatcher, a removed one gives it up', async () => {
    const r = await receiver()
    const held = new Map<string, HeldNotification>()
    const heldStore = {
      load: async () => [],
      save: async (entries: { key: string; data: HeldNotification | null }[]) => {
        for (const x of entries)
          if (x.data === null) held.delete(x.key)
          else held.set(x.key, structuredClone(x.data))
      },
    }
    const hook = (timeoutMs: number) =>
      new SinkDispatcher(createSink({ name: 'hook', kind: 'webhook', url: r.url, timeoutMs } as never), {
        maxQueue: 100,
        maxAttempts: 2,
        backoffMs: 1,
        maxBackoffMs: 2,
      })
    const rule = { ...failure, for: '1 window', resolveFor: '1 window' }
    const { e, actions } = engine([rule], { dispatchers: [hook(2_000)], held: heldStore, onError: () => {} })
    try {
      await e.start()
      await run(e, [input(point(0, { errors: 90 }))])
      await settled(() => [...actions.records.values()].every((x) => x.result.status !== 'pending'))
      expect(e.undelivered.count('hook')).toBe(1)
      // the sink's settings changed (a new dispatcher, same name): the held firing goes through it
      r.down = false
      const changed = hook(3_000)
      e.reconfigure(settingsOf([rule], [changed]))
      await e.idle()
      e.undelivered.retry()
      await settled(() => held.size === 0)
      expect(r.took.map((b) => b.status)).toEqual(['firing'])
      expect(changed.stats.delivered).toBe(1)
      // down again: the resolved is held, then the sink is removed from the config: given up, unsaved
      r.down = true
      await run(e, [input(point(1, { errors: 0 }))])
      await settled(() => e.undelivered.count('hook') === 1)
      e.reconfigure(settingsOf([rule], []))
      await e.idle()
      expect(e.undelivered.count()).toBe(0)
      expect(held.size).toBe(0)
    } finally {
      await e.close()
      await r.close()
    }
  })

  it('a held firing is dropped, never sent, once its resolved reaches the receiver', async () => {
    const r = await receiver()
    const d = new SinkDispatcher(
      createSink({ name: 'hook', kind: 'webhook', url: r.url, timeoutMs: 2_000 } as never),
      { maxQueue: 100, maxAttempts: 2, backoffMs: 1, maxBackoffMs: 2 },
    )
    const { e, actions } = engine([{ ...failure, for: '1 window', resolveFor: '1 window' }], {
      dispatchers: [d],
      onError: () => {},
    })
    try {
      await e.start()
      await run(e, [input(point(0, { errors: 90 }))])
      await settled(() => e.undelivered.count() === 1)
      expect(e.undelivered.count()).toBe(1)
      r.down = false
      await run(e, [input(point(1, { errors: 0 }))])
      await settled(() => [...actions.records.values()].every((x) => x.result.status !== 'pending'))
      await settled(() => e.undelivered.count() === 0)
      expect(r.took.map((b) => b.status)).toEqual(['resolved'])
      expect(e.undelivered.count()).toBe(0)
      expect(e.undelivered.stats.superseded).toBe(1)
    } finally {
      await e.close()
      await r.close()
    }
  })
})

describe('rules', () => {
  const history = (ratios: number[]) => async (_s: unknown, fromMs: number, toMs: number) =>
    ratios
      .map((r, i) => point(i - ratios.length, { errors: Math.round(r * 100) }))
      .filter((p) => p.startMs >= fromMs && p.startMs < toMs)

  it('error-ratio: fires above its own p99 and the binomial tail, not on a noisy-but-normal window', async () => {
    const normal = Array.from({ length: 200 }, (_, i) => [0.01, 0.02, 0.03, 0.05][i % 4])
    const rule = { name: 'errs', kind: 'error-ratio', floor: 0.02, minHistory: 30, for: '1 window' }
    const { e, transitions } = engine([rule], { context: { budgets: {}, history: history(normal) } })
    await run(e, [input(point(0, { errors: 5 }))]) // 5%: as high as its normal peaks
    expect(transitions).toEqual([])
    await run(e, [input(point(1, { errors: 30 }))])
    expect(transitions).toEqual(['errs inactive->pending @2', 'errs pending->firing @2'])
    const ev = e.alerts()[0].evidence
    expect(ev.threshold).toBeCloseTo(0.05, 5)
    expect(ev.observed).toBe(0.3)
    expect(ev.details.tailP as number).toBeLessThan(1e-6)
  })

  it("error-ratio judges the service's own ratio: the gateway's 503s with no healthy target are not its errors", async () => {
    const normal = Array.from({ length: 200 }, (_, i) => [0.01, 0.02, 0.03, 0.05][i % 4])
    const yaml = { name: 'errs', kind: 'error-ratio', floor: 0.02, minHistory: 30, for: '1 window' }
    const rule = alertsSchema.parse({ rules: [yaml] }).rules[0]
    const ctx = { windowMs: W, budgets: {}, history: history(normal) }
    // every target down: all 100 requests answered 503 by the gateway, none reached the service
    const down = input(point(0, { errors: 100, refused: 100, refused5xx: 100 }))
    expect(quickInactive(rule, down, ctx)).toBe(true)
    expect(await evaluateRule(rule, down, ctx)).toMatchObject({
      active: null,
      summary: '0 requests sent upstream (100 answered by the gateway itself), fewer than minRequests 10',
    })
    // half the requests found no target; of the 50 sent, 10 failed at the service: 20 %, not 60 %
    const half = await evaluateRule(rule, input(point(1, { errors: 60, refused: 50, refused5xx: 50 })), ctx)
    expect(half).toMatchObject({
      active: true,
      observed: 0.2,
      details: { requests: 50, errors: 10, refused: 50 },
    })
    expect(half.summary).toMatch(
      /^error ratio 20% \(10 of 50 sent upstream; 50 answered by the gateway itself left out\)/,
    )
    // its tail probability in words, never as 1.2e-7
    expect(half.summary).toMatch(
      /; P\(≥ 10 errors \| baseline [\d.]+%\) is (1 in [\d,]+|under 1 in a billion|[\d.]+%)/,
    )
    expect(half.summary).not.toMatch(/\de-\d/)
    // a past outage of refusals is no part of the service's baseline
    const outage = Array.from({ length: 200 }, (_, i) =>
      point(i - 200, i % 2 === 0 ? { errors: 90, refused: 90, refused5xx: 90 } : { errors: 1 }),
    )
    const pooled = await evaluateRule(rule, input(point(2, { errors: 30 })), {
      ...ctx,
      history: async (_s: unknown, fromMs: number, toMs: number) =>
        outage.filter((p) => p.startMs >= fromMs && p.startMs < toMs),
    })
    expect(pooled).toMatchObject({ active: true, observed: 0.3 })
    expect(pooled.expected as number).toBeLessThan(0.02)
    // the engine pages nothing for the outage window
    const { e, transitions } = engine([yaml], { context: { budgets: {}, history: history(normal) } })
    await run(e, [down])
    expect(transitions).toEqual([])
  })

  it("failure counts every 5xx the clients saw, the gateway's own 503s included, and says whose they are", async () => {
    const rule = alertsSchema.parse({ rules: [{ ...failure, for: '1 window' }] }).rules[0]
    const ctx = { windowMs: W, budgets: {} }
    const down = input(point(0, { errors: 100, refused: 100, refused5xx: 100 }))
    expect(quickInactive(rule, down, ctx)).toBe(false)
    expect(evaluateRule(rule, down, ctx)).toMatchObject({
      active: true,
      observed: 1,
      summary:
        '100% of 100 requests failed (5xx; 100 from the gateway with no healthy target, 0 connection errors, 0 timeouts)',
      details: { failed: 100, gatewayFailed: 100 },
    })
  })

  it("anomaly: an errors anomaly counts the service's 5xx, not the gateway's 503s", () => {
    const rule = alertsSchema.parse({ rules: [{ name: 'a', kind: 'anomaly', metrics: ['errors'] }] }).rules[0]
    const anomaly = {
      id: 'e1',
      metric: 'errors',
      score: 0.9,
      openedAtMs: T0,
      observed: 30,
      expected: 1,
      low: 0,
      high: 4,
      detector: 'poisson',
    }
    const ctx = { windowMs: W, budgets: {} }
    const judge = (p: AlertPoint) => evaluateRule(rule, input(p, { anomalies: [anomaly] }), ctx)
    expect(judge(point(0, { errors: 30 }))).toMatchObject({ active: true })
    expect(judge(point(1, { errors: 30, refused: 30, refused5xx: 30 }))).toMatchObject({ active: false })
  })

  it("latency: static threshold and adaptive to the bank's band at this load", async () => {
    const { e, transitions } = engine([
      { name: 'slow', kind: 'latency', threshold: 800, for: '1 window' },
      { name: 'slower-than-usual', kind: 'latency', threshold: 'adaptive', factor: 1.2, for: '1 window' },
    ])
    const band = { p95: { expected: 600, low: 400, high: 900 } }
    await run(e, [input(point(0, { p95: 850 }), { expected: band })])
    expect(transitions).toEqual(['slow inactive->pending @1', 'slow pending->firing @1'])
    await run(e, [input(point(1, { p95: 1_200 }), { expected: band })])
    expect(transitions.slice(2)).toEqual([
      'slower-than-usual inactive->pending @2',
      'slower-than-usual pending->firing @2',
    ])
    expect(e.get(e.alerts({ rule: 'slower-than-usual' })[0].fingerprint)!.evidence).toMatchObject({
      threshold: 1_080,
      expected: 600,
      band: [400, 900],
    })
  })

  it('summaries print an observed value and the threshold it is compared with apart when they round alike', async () => {
    const ctx = { windowMs: W, budgets: { orders: 500 }, history: history(Array(200).fill(0.05)) }
    const rule = (yaml: Record<string, unknown>) => alertsSchema.parse({ rules: [yaml] }).rules[0]
    const judge = async (yaml: Record<string, unknown>, p: AlertPoint, over: Partial<WindowInput> = {}) =>
      (await evaluateRule(rule({ name: 'r', ...yaml }), input(p, over), ctx)).summary
    expect(await judge({ kind: 'latency', threshold: 812 }, point(0, { p95: 812.4 }))).toBe(
      'p95 812.4 ms > 812 ms',
    )
    const band = { p95: { expected: 600, low: 400, high: 812.1 } }
    expect(
      await judge({ kind: 'latency', threshold: 'adaptive', factor: 1 }, point(0, { p95: 812.4 }), {
        expected: band,
      }),
    ).toMatch(/^p95 812.4 ms > 812.1 ms \(expected 600 ms at 100 req\/s, band 400–812 ms\)$/)
    // the bank gives no p99 band for a window of fewer than 100 requests sent: say so, not "warming up"
    const adaptiveP99 = { kind: 'latency', threshold: 'adaptive', quantile: 'p99' }
    expect(await judge(adaptiveP99, point(0, { count: 50, p99: 900 }), { expected: band })).toBe(
      'p99 is not judged below 100 requests sent (50 this window): it would be the slowest few',
    )
    expect(await judge(adaptiveP99, point(0, { count: 500, p99: 900 }), { expected: band })).toMatch(
      /warming up/,
    )
    // 2,501 of 50,000 against a p99 of exactly 5 %
    const errs = { kind: 'error-ratio', floor: 0.02, minHistory: 30 }
    expect(await judge(errs, point(0, { count: 50_000, errors: 2_501 }))).toMatch(
      /^error ratio 5.002% \(2501 of 50000\) > 5% \(p99/,
    )
    expect(await judge({ ...errs, floor: 0.05004 }, point(0, { errors: 5 }))).toBe(
      'error ratio 5% ≤ floor 5.004%',
    )
    expect(
      await judge(
        { kind: 'rate-limit', limitedRatio: 0.1 },
        point(0, { limitedRatio: 0.10004, count: 500.3 }),
      ),
    ).toBe(
      '10.004% of requests refused with 429 (at most 10%); 500.3 req/s against a capacity budget of 500 req/s',
    )
    // fired on the budget alone (the demo's near-budget on payments in a surge): the rate leads
    expect(
      await judge(
        { kind: 'rate-limit', limitedRatio: 0.5, budgetShare: 0.9 },
        point(0, { limitedRatio: 0, count: 480 }),
      ),
    ).toBe(
      '480 req/s against a capacity budget of 500 req/s (450 req/s at budgetShare 0.9); 0% of requests refused with 429 (at most 50%)',
    )
    const anomaly = {
      id: 'a',
      metric: 'p95',
      score: 0.9,
      openedAtMs: T0,
      observed: 812.4,
      expected: 600,
      low: 400,
      high: 812.1,
      detector: 'novelty',
    }
    expect(
      await judge({ kind: 'anomaly', metrics: ['p95'] }, point(0, { p95: 812.4 }), { anomalies: [anomaly] }),
    ).toBe('anomaly in p95: 812.4 ms against expected 600 ms (band 400–812.1 ms; novelty, score 0.9)')
  })

  it('anomaly: by default fires only when its metric stays outside its opening band for 2 windows', async () => {
    const yaml = { name: 'anomalous', kind: 'anomaly', metrics: ['p95', 'joint'] }
    const { e, transitions } = engine([yaml])
    const rule = alertsSchema.parse({ rules: [yaml] }).rules[0]
    expect(rule.for).toEqual({ windows: 2 })
    // a one-window p95 spike of a heavy tail: the anomaly stays open, the latency is back in its band
    const spike = {
      id: 'p1',
      metric: 'p95',
      score: 0.9,
      openedAtMs: T0,
      observed: 900,
      expected: 60,
      low: 20,
      high: 200,
      detector: 'novelty',
    }
    await run(e, [
      input(point(0, { p95: 900 }), { anomalies: [spike] }),
      input(point(1, { p95: 70 }), { anomalies: [spike] }),
      input(point(2, { p95: 80 }), { anomalies: [spike] }),
    ])
    expect(transitions).toEqual(['anomalous inactive->pending @1', 'anomalous pending->inactive @2'])
    // a slowdown that lasts: outside the band in two windows in a row
    const slow = { ...spike, id: 'p2', openedAtMs: T0 + 3 * W }
    await run(e, [
      input(point(3, { p95: 900 }), { anomalies: [slow] }),
      input(point(4, { p95: 850 }), { anomalies: [slow] }),
    ])
    expect(transitions.slice(2)).toEqual(['anomalous inactive->pending @4', 'anomalous pending->firing @5'])
    expect(e.alerts()[0].evidence.summary).toMatch(
      /anomaly in p95: 900 ms against expected 60 ms \(band 20–200 ms;/,
    )
    expect(rule.resolveFor).toEqual({ windows: 3 })
    // one window back in its band during the slowdown neither resolves it nor pages it again
    await run(e, [
      input(point(5, { p95: 70 }), { anomalies: [slow] }),
      input(point(6, { p95: 900 }), { anomalies: [slow] }),
      input(point(7, { p95: 60 }), { anomalies: [slow] }),
      input(point(8, { p95: 65 }), { anomalies: [slow] }),
    ])
    expect(transitions.slice(4)).toEqual([])
    await run(e, [input(point(9, { p95: 70 }), { anomalies: [slow] })])
    expect(transitions.slice(4)).toEqual(['anomalous firing->resolved @10'])
    // a window without requests is no evidence; the joint score has no value and counts while open
    const joint = { ...spike, id: 'j1', metric: 'joint', observed: 0.8, low: 0, high: 0.5, detector: 'hst' }
    const empty = input(point(6, { count: 0, errors: 0, p95: null }), { anomalies: [slow] })
    expect(evaluateRule(rule, empty, { windowMs: W, budgets: {} })).toMatchObject({
      active: false,
      summary: 'no open anomaly of these metrics outside its band this window',
    })
    expect(
      evaluateRule(rule, input(point(7, { p95: 50 }), { anomalies: [slow, joint] }), {
        windowMs: W,
        budgets: {},
      }),
    ).toMatchObject({ active: true, details: { anomaly: 'j1' } })
  })

  it("a sustained errors anomaly counts while a window is above one window's band, and says over how many windows", async () => {
    const rule = alertsSchema.parse({ rules: [{ name: 'a', kind: 'anomaly', metrics: ['errors'] }] }).rules[0]
    // 12 errors over 9 windows against 0.4 expected: the band of the sum is 0–2.3, one window's 0–0.6
    const slow = {
      id: 's1',
      metric: 'errors',
      score: 0.8,
      openedAtMs: T0,
      observed: 12,
      expected: 0.4,
      low: 0,
      high: 2.3,
      detector: 'count-cusum',
      sustained: { windows: 9, expected: 0.044, low: 0, high: 0.67 },
    }
    const ctx = { windowMs: W, budgets: {} }
    // one error this window: the incident going on, though under the band of the sum
    expect(
      evaluateRule(rule, input(point(0, { count: 5, errors: 1 }), { anomalies: [slow] }), ctx),
    ).toMatchObject({
      active: true,
      summary: expect.stringMatching(
        /^anomaly in errors: 12 errors over the last 9 windows against expected 0\.4/,
      ),
    })
    expect(
      evaluateRule(rule, input(point(1, { count: 5, errors: 0 }), { anomalies: [slow] }), ctx),
    ).toMatchObject({ active: false })
  })

  it('anomaly, forecast and rate-limit rules read their inputs', async () => {
    const { e } = engine([
      { name: 'anom', kind: 'anomaly', metrics: ['errors'], for: '1 window' },
      { name: 'fc', kind: 'forecast', probability: 0.7, for: '1 window' },
      { name: 'rl', kind: 'rate-limit', limitedRatio: 0.2, budgetShare: 0.9, for: '1 window' },
    ])
    const anomaly = {
      id: 'a1',
      metric: 'errors',
      score: 0.8,
      openedAtMs: T0,
      observed: 30,
      expected: 1,
      low: 0,
      high: 4,
      detector: 'poisson',
    }
    const forecast = {
      lastPointMs: T0 - W,
      failure: {
        errorRatio: { threshold: 0.05, probability: 0.9, firstLikelyAtMs: T0 + 60_000, model: 'ets' },
        p95: null,
      },
    }
    // 30 errors: the anomaly's metric is still above its band this window
    await run(e, [input(point(0, { count: 460, errors: 30 }), { anomalies: [anomaly], forecast })])
    expect(
      e
        .alerts()
        .map((a) => [a.rule, a.state])
        .sort(),
    ).toEqual([
      ['anom', 'firing'],
      ['fc', 'firing'],
      ['rl', 'firing'],
    ])
    expect(e.alerts({ rule: 'rl' })[0].evidence.summary).toMatch(
      /460 req\/s against a capacity budget of 500/,
    )
    expect(e.alerts({ rule: 'fc' })[0].evidence.summary).toMatch(
      /P\(errorRatio crosses 5% within the horizon\) = 90%/,
    )
  })

  /** A forecast whose error ratio and p95 cross their thresholds with these probabilities. */
  const failing = (errorRatio: number, p95: number) => ({
    lastPointMs: T0 - W,
    failure: {
      errorRatio: { threshold: 0.05, probability: errorRatio, firstLikelyAtMs: null, model: 'naive' },
      p95: { threshold: 1_000, probability: p95, firstLikelyAtMs: null, model: 'ets' },
    },
  })

  it('a forecast alert that fired on the error ratio resolves describing the error ratio, not p95', async () => {
    const { e, sink, actions } = engine([
      { name: 'will-fail', kind: 'forecast', probability: 0.8, for: '1 window', resolveFor: '1 window' },
    ])
    await run(e, [
      input(point(0), { forecast: failing(0.9, 0.1) }),
      // the error ratio recovers; p95 is now the likelier crossing, though far from firing
      input(point(1), { forecast: failing(0.05, 0.3) }),
    ])
    const a = e.alerts({ state: 'all' })[0]
    expect(a.state).toBe('resolved')
    expect(a.evidence.summary).toMatch(/^P\(errorRatio crosses 5% within the horizon\) = 90%/)
    expect(a.latest.summary).toMatch(/^P\(errorRatio crosses 5% within the horizon\) = 5%/)
    await settled(() => [...actions.records.values()].every((r) => r.result.status !== 'pending'))
    expect(sink.got.flat().map((n) => n.event)).toEqual(['firing', 'resolved'])
    const resolved = [...actions.records.values()].find((r) => r.kind === 'alert.resolved')!
    expect(resolved.reason).toMatch(/^resolved: P\(errorRatio crosses/)
    expect(resolved.reason).not.toMatch(/p95/)
  })

  it('a forecast alert on either signal stays active, and says so, while the other one crosses', async () => {
    const { e } = engine([{ name: 'will-fail', kind: 'forecast', probability: 0.8, for: '1 window' }])
    await run(e, [
      input(point(0), { forecast: failing(0.9, 0.1) }),
      input(point(1), { forecast: failing(0.1, 0.95) }),
    ])
    const a = e.alerts()[0]
    expect(a.state).toBe('firing')
    expect(a.latest.summary).toMatch(/^P\(p95 crosses 1,000 ms within the horizon\) = 95%/)
  })
  /**
   * A forecast fitted while (or just after) the error ratio was over its threshold: the fit
   * extends the failure (`probability`); left out, the history forecasts `ahead`.
   */
  const extending = (probability: number, ahead: { probability: number; leftOut: number } | null) => ({
    lastPointMs: T0 - W,
    failure: {
      errorRatio: {
        threshold: 0.05,
        probability,
        firstLikelyAtMs: T0,
        model: 'naive',
        newCrossing: ahead === null ? null : { ...ahead, firstLikelyAtMs: null },
      },
      p95: null,
    },
  })

  it('does not fire on a failure forecast that only extends the failure under way or just ended', async () => {
    const { e, sink } = engine([{ name: 'will-fail', kind: 'forecast', probability: 0.95, for: '3 windows' }])
    // an error burst's windows are in the fit: P(crossing) is the burst continuing, and the live
    // error alerts are already telling of it; the history without them forecasts no crossing
    await run(
      e,
      [0, 1, 2, 3, 4].map((i) =>
        input(point(i, { errors: i < 2 ? 60 : 0 }), {
          forecast: extending(0.999, { probability: 0.04, leftOut: 15 }),
        }),
      ),
    )
    expect(e.alerts({ state: 'all' })).toEqual([])
    expect(sink.got).toEqual([])
    const rule = alertsSchema.parse({ rules: [{ name: 'will-fail', kind: 'forecast', probability: 0.95 }] })
      .rules[0]
    const ctx = { windowMs: W, budgets: {} }
    const after = input(point(5), { forecast: extending(0.999, { probability: 0.04, leftOut: 15 }) })
    expect(quickInactive(rule, after, ctx)).toBe(true)
    expect(evaluateRule(rule, after, ctx)).toMatchObject({
      active: false,
      observed: 0.04,
      summary:
        'P(errorRatio crosses 5% within the horizon) = 4% leaving out the 15 windows over it (99.9% with them)',
    })
  })

  it('fires on a rise the windows over the threshold do not explain', async () => {
    const { e } = engine([{ name: 'will-fail', kind: 'forecast', probability: 0.9, for: '2 windows' }])
    await run(e, [
      input(point(0), { forecast: extending(0.97, { probability: 0.93, leftOut: 2 }) }),
      input(point(1), { forecast: extending(0.97, { probability: 0.93, leftOut: 2 }) }),
    ])
    const a = e.alerts()[0]
    expect(a.state).toBe('firing')
    expect(a.evidence.observed).toBe(0.93)
    expect(a.evidence.details).toMatchObject({ probabilityWithCrossings: 0.97, leftOut: 2 })
  })

  it('holds a fired forecast alert, and starts none, while too many windows are over the threshold to tell', async () => {
    const rules = [
      { name: 'will-fail', kind: 'forecast', probability: 0.8, for: '1 window', resolveFor: '1 window' },
    ]
    const burst = [1, 2].map((i) => input(point(i, { errors: 60 }), { forecast: extending(1, null) }))
    const { e } = engine(rules)
    // it predicted the failure before it came; then the failure is all the history shows of late,
    // which neither resolves the alert nor keeps it alive as a forecast
    await run(e, [input(point(0), { forecast: extending(0.9, { probability: 0.9, leftOut: 0 }) }), ...burst])
    const a = e.alerts()[0]
    expect(a.state).toBe('firing')
    expect(a.latest.windowStartMs).toBe(T0)
    expect(a.lastEvalMs).toBe(T0 + 3 * W)
    const { e: fresh } = engine(rules)
    await run(fresh, burst)
    expect(fresh.alerts({ state: 'all' })).toEqual([])
    const rule = alertsSchema.parse({ rules }).rules[0]
    expect(evaluateRule(rule, burst[0], { windowMs: W, budgets: {} })).toMatchObject({
      active: null,
      summary: 'errorRatio over 5% in too many recent windows to forecast a crossing apart from it',
    })
  })
  it('with metric any, a fired error-ratio alert is not resolved by p95 while its own signal cannot be told', async () => {
    const { e } = engine([
      { name: 'will-fail', kind: 'forecast', probability: 0.8, for: '1 window', resolveFor: '1 window' },
    ])
    const both = (ahead: { probability: number; leftOut: number } | null) => {
      const f = extending(ahead === null ? 1 : ahead.probability, ahead)
      return {
        ...f,
        failure: {
          ...f.failure,
          p95: { threshold: 1_000, probability: 0.1, firstLikelyAtMs: null, model: 'ets' },
        },
      }
    }
    await run(e, [
      input(point(0), { forecast: both({ probability: 0.9, leftOut: 0 }) }),
      input(point(1, { errors: 60 }), { forecast: both(null) }),
    ])
    const a = e.alerts()[0]
    expect(a.state).toBe('firing')
    expect(a.latest.windowStartMs).toBe(T0)
  })
})

describe('AlertEngine enrichment and incidents', () => {
  const on = (service: string, p: AlertPoint): WindowInput =>
    input(p, { series: { service, route: '*', env: 'prod' }, key: `${service}|*|prod` })
  const fast = { ...failure, for: '1 window', resolveFor: '1 window' }

  it('waits one deadline for every enricher of every alert, and sends what answered in time', async () => {
    let slowCalls = 0
    const { e, sink } = engine([fast], {
      enrichTimeoutMs: 250,
      enrichers: [
        async (a) => ({ impact: { summary: `≈12 users affected on ${a.series.service}` } }),
        () => {
          slowCalls++
          return new Promise(() => {}) // never answers
        },
        async () => {
          throw new Error('enricher broke')
        },
      ],
    })
    await e.start()
    const services = ['orders', 'payments', 'users', 'search']
    await run(
      e,
      services.map((s) => on(s, point(0))),
    )
    const t0 = Date.now()
    await closeTogether(
      e,
      services.map((s) => on(s, point(1, { errors: 90 }))),
    )
    const took = Date.now() - t0
    await settled(() => sink.got.flat().length === 4)
    const sent = sink.got.flat()
    expect(sent.map((n) => n.alert.series.service).sort()).toEqual([...services].sort())
    for (const n of sent)
      expect(n.alert.context).toEqual({
        impact: { summary: `≈12 users affected on ${n.alert.series.service}` },
      })
    expect(slowCalls).toBe(4)
    // one flush of one 250 ms deadline, not one deadline per alert and enricher (4 × 250 ms)
    expect(took).toBeLessThan(750)
  })

  const incidentOf = (head: string, member: string) => (active: readonly Readonly<Alert>[]) => {
    const h = active.find((a) => a.series.service === head)
    const m = active.find((a) => a.series.service === member)
    return h === undefined || m === undefined
      ? []
      : [{ members: [h.fingerprint, m.fingerprint], reason: `${member} calls ${head}` }]
  }

  it('pages an incident once, by its head; a member pages itself once the head is gone', async () => {
    const { e, sink } = engine([fast], { correlate: incidentOf('payments', 'orders') })
    await e.start()
    await closeTogether(e, [on('orders', point(0)), on('payments', point(0))])
    await closeTogether(e, [on('orders', point(1, { errors: 90 })), on('payments', point(1, { errors: 90 }))])
    await settled(() => sink.got.flat().length >= 1)
    const first = sink.got.flat()
    expect(first.map((n) => `${n.event} ${n.alert.series.service}`)).toEqual(['firing payments'])
    const head = first[0].alert
    expect(head.incident).toBe(head.fingerprint)
    expect(head.context.correlated).toMatchObject({
      reason: 'orders calls payments',
      alerts: [{ series: 'payments|*|prod' }, { series: 'orders|*|prod' }],
    })
    const orders = e.alerts().find((a) => a.series.service === 'orders')!
    expect(orders).toMatchObject({ state: 'firing', suppressed: 'incident', incident: head.fingerprint })
    // the dependency recovers, the caller still fails: now it pages for itself
    await closeTogether(e, [on('orders', point(2, { errors: 90 })), on('payments', point(2))])
    await settled(() => sink.got.flat().length >= 2)
    expect(sink.got.flat().map((n) => `${n.event} ${n.alert.series.service}`)).toEqual([
      'firing payments',
      'firing orders',
      'resolved payments',
    ])
    expect(e.alerts().find((a) => a.series.service === 'orders')).toMatchObject({
      incident: null,
      suppressed: null,
    })
  })

  // two rules on one series, one incident: on a tie the correlator keeps the order it was given
  const sameSeries = (active: readonly Readonly<Alert>[]) =>
    active.length < 2 ? [] : [{ members: active.map((a) => a.fingerprint), reason: 'one series' }]
  const twoRules = [
    { ...fast, name: 'orders-errors' },
    { ...fast, name: 'orders-failing' },
  ]

  it('a silenced head does not swallow its incident: the first member that can page heads it', async () => {
    const silences: StoredSilence[] = [
      {
        id: 's1',
        matchers: [{ name: 'alertname', value: 'orders-errors', isRegex: false, isEqual: true }],
        startsAtMs: 0,
        endsAtMs: T0 + 60 * W,
        createdBy: 'ops',
        comment: 'known flaky',
        createdAtMs: 0,
      },
    ]
    const { e, sink } = engine(twoRules, { correlate: sameSeries, silences: () => silences })
    await e.start()
    await closeTogether(e, [input(point(0))])
    await closeTogether(e, [input(point(1, { errors: 90 }))])
    await settled(() => sink.got.flat().length >= 1)
    expect(sink.got.flat().map((n) => `${n.event} ${n.alert.rule}`)).toEqual(['firing orders-failing'])
    const byRule = Object.fromEntries(e.alerts().map((a) => [a.rule, a]))
    expect(byRule['orders-errors']).toMatchObject({
      suppressed: 'silenced',
      incident: byRule['orders-failing'].fingerprint,
    })
    expect(byRule['orders-failing']).toMatchObject({
      suppressed: null,
      incident: byRule['orders-failing'].fingerprint,
    })
    expect(byRule['orders-failing'].context.correlated).toMatchObject({
      reason: 'one series; it pages for orders-errors on orders|*|prod, which is silenced',
    })
  })

  it('an incident keeps its head across a restart that loads its alerts in another order', async () => {
    const first = engine(twoRules, { correlate: sameSeries })
    await first.e.start()
    await closeTogether(first.e, [input(point(0))])
    await closeTogether(first.e, [input(point(1, { errors: 90 }))])
    await settled(() => first.sink.got.flat().length >= 1)
    const head = (e: AlertEngine) => e.alerts().find((a) => a.incident === a.fingerprint)?.rule
    expect(head(first.e)).toBe('orders-errors')
    await first.e.close()
    // the store returns them the other way round (by fingerprint, say)
    const second = engine(twoRules, {
      correlate: sameSeries,
      state: { load: async () => [...first.saved.values()].reverse(), save: async () => {} },
    })
    await second.e.start()
    await closeTogether(second.e, [input(point(2, { errors: 90 }))])
    expect(head(second.e)).toBe('orders-errors')
    // recovered, then a second burst: both start in one window again
    await closeTogether(second.e, [input(point(3))])
    expect(second.e.alerts({ state: 'resolved' })).toHaveLength(2)
    await closeTogether(second.e, [input(point(4, { errors: 90 }))])
    expect(head(second.e)).toBe('orders-errors')
    // the first burst's resolution went out: the second is paged, by the same head
    expect(second.e.alerts().find((a) => a.rule === 'orders-errors')).toMatchObject({
      state: 'firing',
      suppressed: null,
      notified: { firing: true },
    })
    expect(second.e.alerts().find((a) => a.rule === 'orders-failing')).toMatchObject({
      suppressed: 'incident',
    })
  })

  // the head is `payments` (the dependency), the member `orders` (its caller)
  it.each([
    ['warning', 'critical', ['firing orders', 'firing payments'], null],
    ['warning', 'warning', ['firing payments'], 'incident'],
    ['critical', 'warning', ['firing payments'], 'incident'],
  ] as const)('a %s head holds a %s member’s page only when it is as severe', async (hs, ms, sent, held) => {
    const head = { ...fast, name: 'payments-down', severity: hs, match: { service: 'payments' } }
    const member = { ...fast, name: 'orders-down', severity: ms, match: { service: 'orders' } }
    const { e, sink } = engine([head, member], { correlate: incidentOf('payments', 'orders') })
    const sentSoFar = () =>
      sink.got
        .flat()
        .map((n) => `${n.event} ${n.alert.series.service}`)
        .sort()
    await e.start()
    await closeTogether(e, [on('orders', point(0)), on('payments', point(0))])
    await closeTogether(e, [on('orders', point(1, { errors: 90 })), on('payments', point(1, { errors: 90 }))])
    await settled(() => sink.got.flat().length >= sent.length)
    await new Promise((r) => setTimeout(r, 50))
    expect(sentSoFar()).toEqual(sent)
    const payments = e.alerts().find((a) => a.series.service === 'payments')!
    const orders = e.alerts().find((a) => a.series.service === 'orders')!
    // a member that pages is still in the incident, and listed in its head's page
    expect(orders).toMatchObject({
      state: 'firing',
      suppressed: held,
      incident: payments.fingerprint,
      escalated: held === null,
    })
    expect(payments.escalated).toBe(false)
    // and so says its page, to every sink
    const page = sink.got.flat().find((n) => n.alert.series.service === 'orders')
    expect(page === undefined ? null : alertView(page).escalated).toBe(held === null ? true : null)
    expect(payments.context.correlated).toMatchObject({
      alerts: [{ series: 'payments|*|prod' }, { series: 'orders|*|prod' }],
    })
    // the head recovers: a member that paged already is not paged again, a held one pages now
    await closeTogether(e, [on('orders', point(2, { errors: 90 })), on('payments', point(2))])
    await settled(() => sink.got.flat().length >= 3)
    await new Promise((r) => setTimeout(r, 50))
    expect(sentSoFar()).toEqual(['firing orders', 'firing payments', 'resolved payments'])
  })

  it('holds a caller’s page while its dependency’s alert is pending, then pages once', async () => {
    const slow = { ...fast, name: 'down-slow', for: '2 windows', match: { service: 'payments' } }
    const quick = { ...fast, match: { service: 'orders' } }
    const { e, sink } = engine([quick, slow], { correlate: incidentOf('payments', 'orders') })
    await e.start()
    await closeTogether(e, [on('orders', point(0)), on('payments', point(0))])
    await closeTogether(e, [on('orders', point(1, { errors: 90 })), on('payments', point(1, { errors: 90 }))])
    expect(
      e
        .alerts()
        .map((a) => `${a.series.service} ${a.state} ${a.suppressed}`)
        .sort(),
    ).toEqual(['orders firing incident', 'payments pending null'])
    await closeTogether(e, [on('orders', point(2, { errors: 90 })), on('payments', point(2, { errors: 90 }))])
    await settled(() => sink.got.flat().length >= 1)
    await new Promise((r) => setTimeout(r, 50))
    expect(sink.got.flat().map((n) => `${n.event} ${n.alert.series.service}`)).toEqual(['firing payments'])
  })
})

describe('AlertEngine: series that go silent', () => {
  const slow = { name: 'slow', kind: 'latency', threshold: 800, for: '1 window', minRequests: 5 }
  const errs = { name: 'errs', kind: 'error-ratio', floor: 0.02, minHistory: 30, for: '1 window' }
  const normal = Array.from({ length: 200 }, (_, i) => [0.01, 0.02, 0.03, 0.05][i % 4])
  const history = async (_s: unknown, fromMs: number, toMs: number) =>
    normal
      .map((r, i) => point(i - normal.length, { errors: Math.round(r * 100) }))
      .filter((p) => p.startMs >= fromMs && p.startMs < toMs)
  const stale = { staleAfter: '5 windows' }
  /** the control plane's clock: every window ending at or before T0 + w·W has closed */
  const tick = async (e: AlertEngine, w: number) => {
    e.tick(T0 + w * W)
    await e.idle()
  }
  /** a second engine on the state the first saved (a restart), started */
  const restarted = async (first: ReturnType<typeof engine>) => {
    const second = engine(
      [slow],
      { state: { load: async () => [...first.saved.values()], save: async () => {} } },
      stale,
    )
    await second.e.start()
    return second
  }
  const done = (actions: MemoryActions) => () =>
    [...actions.records.values()].every((r) => r.result.status !== 'pending')

  for (const [rule, bad] of [
    [slow, point(1, { p95: 2_000 })],
    [errs, point(1, { errors: 30 })],
  ] as const)
    it(`a firing ${rule.kind} alert resolves once its series had no window for staleAfter, saying since when`, async () => {
      const { e, sink, actions, transitions } = engine([rule], { context: { budgets: {}, history } }, stale)
      await e.start()
      await tick(e, 0) // the clock runs from the start
      await run(e, [input(point(0)), input(bad)]) // fires at the window ending T0 + 2W
      await tick(e, 2)
      expect(e.alerts()[0].state).toBe('firing')
      await tick(e, 7) // silent for exactly 5 windows: not yet
      expect(e.alerts()[0].state).toBe('firing')
      await tick(e, 8)
      const a = e.get(e.alerts({ state: 'all' })[0].fingerprint)!
      expect(a).toMatchObject({ state: 'resolved', resolvedBy: 'stale', resolvedAtMs: T0 + 7 * W })
      expect(a.latest.summary).toBe(
        `no requests since ${new Date(T0 + 2 * W).toISOString()}: no window of orders|*|prod for 5s`,
      )
      // later ticks change nothing: the resolution goes out once, recorded like any other
      await tick(e, 9)
      await tick(e, 60)
      await settled(done(actions))
      const sent = sink.got.flat()
      expect(sent.map((n) => n.event)).toEqual(['firing', 'resolved'])
      expect(sent[1].alert.latest.summary).toMatch(/^no requests since /)
      const recs = [...actions.records.values()].filter((r) => r.kind === 'alert.resolved')
      expect(recs).toHaveLength(1)
      expect(recs[0]).toMatchObject({ reason: `resolved: ${a.latest.summary}`, result: { status: 'ok' } })
      expect(transitions).toEqual([
        `${rule.name} inactive->pending @2`,
        `${rule.name} pending->firing @2`,
        `${rule.name} firing->resolved @2`,
      ])
    })

  for (const [rule, bad, why] of [
    [slow, point(1, { p95: 2_000 }), '2 requests, fewer than minRequests 5'],
    [errs, point(1, { errors: 30 }), '2 requests sent upstream, fewer than minRequests 10'],
  ] as const)
    it(`a firing ${rule.kind} alert whose traffic dwindles below minRequests resolves as stale, saying so`, async () => {
      const { e, sink, actions, transitions } = engine([rule], { context: { budgets: {}, history } }, stale)
      await e.start()
      await tick(e, 0)
      await run(e, [input(point(0)), input(bad)]) // fires at the window ending T0 + 2W
      // 2 requests a window: no evidence either way, however many such windows come
      const trickle = (w: number) => input(point(w, { count: 2, errors: 2, p95: 2_000 }))
      for (let w = 2; w < 7; w++) {
        await run(e, [trickle(w)])
        await tick(e, w + 1)
      }
      expect(e.alerts()[0]).toMatchObject({
        state: 'firing',
        lastEvalMs: T0 + 7 * W,
        lastTrafficMs: T0 + 2 * W,
      })
      expect(e.alerts()[0].latest).toMatchObject({ active: null, summary: why })
      await run(e, [trickle(7)])
      const a = e.get(e.alerts({ state: 'all' })[0].fingerprint)!
      expect(a).toMatchObject({ state: 'resolved', resolvedBy: 'stale', resolvedAtMs: T0 + 7 * W })
      const min = rule === slow ? 5 : 10
      expect(a.latest.summary).toBe(
        `fewer than minRequests ${min} requests per window since ${new Date(T0 + 2 * W).toISOString()}: every window of orders|*|prod for 5s had too few to judge (the newest: ${why})`,
      )
      // more of the same changes nothing; the resolution goes out once
      await run(e, [trickle(8), trickle(9)])
      await tick(e, 30)
      await settled(done(actions))
      expect(sink.got.flat().map((n) => n.event)).toEqual(['firing', 'resolved'])
      expect(sink.got.flat()[1].alert.latest.summary).toMatch(/^fewer than minRequests /)
      expect(transitions).toEqual([
        `${rule.name} inactive->pending @2`,
        `${rule.name} pending->firing @2`,
        `${rule.name} firing->resolved @7`, // noticed by the next window, before judging it
      ])
    })

  it('a window with enough requests amid a trickle restarts the stale clock', async () => {
    const { e } = engine([slow], {}, stale)
    await e.start()
    await tick(e, 0)
    const trickle = (w: number) => input(point(w, { count: 1, p95: 2_000 }))
    await run(e, [input(point(0, { p95: 2_000 })), trickle(1), trickle(2), trickle(3)])
    await run(e, [
      input(point(4, { p95: 2_000 })),
      trickle(5),
      trickle(6),
      trickle(7),
      trickle(8),
      trickle(9),
    ])
    expect(e.alerts()[0]).toMatchObject({ state: 'firing', lastTrafficMs: T0 + 5 * W })
    await tick(e, 10)
    expect(e.alerts()[0].state).toBe('firing')
    await tick(e, 11)
    expect(e.alerts({ state: 'all' })[0]).toMatchObject({ resolvedBy: 'stale', resolvedAtMs: T0 + 10 * W })
  })

  it('a window the rule has nothing to judge against (no history yet) is not a trickle: the alert keeps its state', async () => {
    let calls = 0
    // history only for the first window: then the rule has no baseline, though requests come
    const scarce = async (s: unknown, fromMs: number, toMs: number) =>
      calls++ === 0 ? history(s, fromMs, toMs) : []
    const { e } = engine([errs], { context: { budgets: {}, history: scarce } }, stale)
    await e.start()
    await tick(e, 0)
    for (let w = 0; w < 20; w++) {
      await run(e, [input(point(w, { errors: 30 }))])
      await tick(e, w + 1)
    }
    expect(e.alerts()[0]).toMatchObject({ state: 'firing', lastTrafficMs: T0 + 20 * W })
    expect(e.alerts()[0].lastEvalMs).toBe(T0 + 20 * W)
  })

  it('a pending alert whose traffic dwindles below minRequests is dropped, and never pages', async () => {
    const { e, sink, transitions } = engine([{ ...slow, for: '3 windows' }], {}, stale)
    await e.start()
    await tick(e, 0)
    await run(e, [input(point(0, { p95: 2_000 }))])
    for (let w = 1; w < 8; w++) await run(e, [input(point(w, { count: 1, p95: 2_000 }))])
    expect(e.alerts({ state: 'all' })).toEqual([])
    expect(transitions).toEqual(['slow inactive->pending @1', 'slow pending->inactive @6'])
    expect(sink.got).toEqual([])
  })

  it('after a restart, a trickle counts from the last window with enough requests, and from the first tick at the earliest', async () => {
    const first = engine([slow], {}, stale)
    await first.e.start()
    await run(first.e, [input(point(0, { p95: 2_000 }))])
    for (let w = 1; w < 4; w++) await run(first.e, [input(point(w, { count: 1, p95: 2_000 }))])
    await first.e.close()
    const second = await restarted(first)
    expect(second.e.alerts()[0]).toMatchObject({ state: 'firing', lastTrafficMs: T0 + W })
    await tick(second.e, 4)
    for (let w = 4; w < 9; w++) {
      await run(second.e, [input(point(w, { count: 1, p95: 2_000 }))])
      await tick(second.e, w + 1)
    }
    expect(second.e.alerts()[0].state).toBe('firing') // 5 windows after the first tick: not yet
    await tick(second.e, 10)
    const a = second.e.alerts({ state: 'all' })[0]
    expect(a).toMatchObject({ resolvedBy: 'stale', resolvedAtMs: T0 + 9 * W })
    expect(a.latest.summary).toMatch(
      new RegExp(
        `^fewer than minRequests 5 requests per window since ${new Date(T0 + W).toISOString()}: .* for 8s`,
      ),
    )
  })

  it('an alert whose series keeps getting windows is not stale, however long it fires', async () => {
    const { e, sink } = engine([slow], {}, stale)
    await e.start()
    for (let w = 0; w < 30; w++) {
      await run(e, [input(point(w, { p95: 2_000 }))])
      await tick(e, w + 1)
    }
    expect(e.alerts()[0]).toMatchObject({ state: 'firing', resolvedBy: null })
    expect(sink.got.flat().map((n) => n.event)).toEqual(['firing'])
  })

  it('a failure alert on a service that is down keeps firing while the gateway answers its requests with 503', async () => {
    const { e, sink } = engine([{ ...failure, for: '1 window' }], {}, stale)
    await e.start()
    for (let w = 0; w < 20; w++) {
      // no healthy target: every request is the gateway's own 503, but requests still arrive
      await run(e, [input(point(w, { count: 40, errors: 40, refused: 40, refused5xx: 40 }))])
      await tick(e, w + 1)
    }
    expect(e.alerts()[0]).toMatchObject({ state: 'firing', kind: 'failure' })
    // traffic stops altogether: then it is stale like any other
    await tick(e, 26)
    expect(e.alerts({ state: 'all' })[0]).toMatchObject({ state: 'resolved', resolvedBy: 'stale' })
    await settled(() => sink.got.flat().length === 2)
    expect(sink.got.flat().map((n) => n.event)).toEqual(['firing', 'resolved'])
  })

  it('a pending alert whose series goes silent is dropped, and never pages', async () => {
    const { e, sink, saved, transitions } = engine([{ ...slow, for: '3 windows' }], {}, stale)
    await e.start()
    await tick(e, 0)
    await run(e, [input(point(0, { p95: 2_000 }))])
    expect(e.alerts()[0].state).toBe('pending')
    await tick(e, 7)
    expect(e.alerts({ state: 'all' })).toEqual([])
    expect(transitions).toEqual(['slow inactive->pending @1', 'slow pending->inactive @1'])
    expect(saved.size).toBe(0)
    expect(sink.got).toEqual([])
  })

  it('after a restart, silence counts from its first tick, not from before it (the backlog may still come)', async () => {
    const first = engine([slow], {}, stale)
    await first.e.start()
    await run(first.e, [input(point(0, { p95: 2_000 }))])
    await first.e.close()
    const second = await restarted(first)
    await tick(second.e, 100) // long after the last window: watching starts here
    expect(second.e.alerts()[0].state).toBe('firing')
    await tick(second.e, 105)
    expect(second.e.alerts()[0].state).toBe('firing')
    await tick(second.e, 106)
    expect(second.e.alerts({ state: 'all' })[0]).toMatchObject({
      resolvedBy: 'stale',
      resolvedAtMs: T0 + 105 * W,
    })
  })

  it('after a failover, windows judged before the first tick do not resolve a restored alert as silent', async () => {
    // the new leader judges the windows the dead one held before its clock first ticks; the
    // restored alert's last traffic is as old as the previous leader last saved it
    const first = engine([slow], {}, stale)
    await first.e.start()
    await run(first.e, [input(point(0, { p95: 2_000 }))])
    await first.e.close()
    const second = await restarted(first)
    const other = { series: { service: 'users', route: '*', env: 'prod' }, key: 'users|*|prod' }
    await run(second.e, [input(point(100), other), input(point(100, { p95: 2_000 }))])
    expect(second.e.alerts()[0]).toMatchObject({ state: 'firing', resolvedBy: null })
    expect(second.sink.got.flat().map((n) => n.event)).toEqual([])
    // silence still resolves it, counted from the first window this leader judged
    await tick(second.e, 107)
    expect(second.e.alerts({ state: 'all' })[0]).toMatchObject({
      resolvedBy: 'stale',
      resolvedAtMs: T0 + 106 * W,
    })
  })

  it('without ticks (a replay), another series’ window notices the silence at the same moment', async () => {
    const { e } = engine([slow], {}, stale)
    await e.start()
    await run(e, [input(point(0, { p95: 2_000 }))])
    const other = { series: { service: 'users', route: '*', env: 'prod' }, key: 'users|*|prod' }
    await run(e, [input(point(20), other)])
    expect(e.alerts({ state: 'all' }).find((a) => a.key === 'orders|*|prod')).toMatchObject({
      state: 'resolved',
      resolvedBy: 'stale',
      resolvedAtMs: T0 + 6 * W,
    })
  })
})

describe('AlertEngine reconfigure (a config reload)', () => {
  const once = { ...failure, for: '1 window', resolveFor: '1 window' }
  const allSettled = (actions: MemoryActions) => () =>
    [...actions.records.values()].every((r) => r.result.status !== 'pending')

  it('a changed threshold applies to the next window; the firing alert keeps its fingerprint, ack and run', async () => {
    const { e, sink, actions } = engine([once])
    await run(e, [input(point(0, { errors: 60 }))])
    const [a] = e.alerts()
    e.ack({ fingerprint: a.fingerprint, startsAtMs: a.firingAtMs!, by: 'ops', comment: 'on it', atMs: 1 })
    const d = new SinkDispatcher(sink, { maxQueue: 10, maxAttempts: 1, backoffMs: 1, maxBackoffMs: 1 })
    // 60% failed no longer crosses 0.7: the alert resolves through the rule's own resolveFor
    e.reconfigure(settingsOf([{ ...once, ratio: 0.7 }], [d]))
    await run(e, [input(point(1, { errors: 60 }))])
    await settled(allSettled(actions))
    const after = e.get(a.fingerprint)
    expect(after).toMatchObject({ state: 'resolved', resolvedBy: 'recovery', activeAtMs: a.activeAtMs })
    expect(after?.ack).toMatchObject({ by: 'ops' })
    expect(sink.got.flat().map((n) => `${n.event} ${n.alert.fingerprint}`)).toEqual([
      `firing ${a.fingerprint}`,
      `resolved ${a.fingerprint}`,
    ])
  })

  it('an alert whose rule was removed resolves at once and its resolution goes to the sinks that rule named', async () => {
    const { e, actions } = engine([{ ...once, sinks: ['pager'] }])
    const pager = new RecordingSink('pager')
    const other = new RecordingSink('other')
    const opts = { maxQueue: 10, maxAttempts: 1, backoffMs: 1, maxBackoffMs: 1 }
    const dispatchers = [new SinkDispatcher(pager, opts), new SinkDispatcher(other, opts)]
    e.reconfigure(settingsOf([{ ...once, sinks: ['pager'] }], dispatchers))
    await run(e, [input(point(0, { errors: 60 }))])
    e.reconfigure(settingsOf([{ name: 'slow', kind: 'latency', threshold: 500 }], dispatchers))
    await e.idle()
    await settled(allSettled(actions))
    const [a] = e.alerts({ state: 'all' }).filter((x) => x.rule === 'down')
    expect(a).toMatchObject({ state: 'resolved', resolvedBy: 'config', resolvedAtMs: T0 + W })
    expect(a.latest.summary).toMatch(/its rule down was removed from the config/)
    expect(pager.got.flat().map((n) => n.event)).toEqual(['firing', 'resolved'])
    expect(other.got).toEqual([])
  })

  it('a pending alert of a removed rule is dropped without a page', async () => {
    const { e, sink, transitions } = engine([{ ...failure, for: '3 windows' }])
    await run(e, [input(point(0, { errors: 60 }))])
    e.reconfigure(settingsOf([], []))
    await e.idle()
    expect(e.alerts({ state: 'all' })).toEqual([])
    expect(transitions).toEqual(['down inactive->pending @1', 'down pending->inactive @1'])
    expect(sink.got).toEqual([])
  })

  it('a firing alert whose rule moves from shadow to enforce is sent at once; a raised severity is sent again', async () => {
    const { e, sink, actions } = engine([{ ...once, mode: 'shadow' }])
    await run(e, [input(point(0, { errors: 60 }))])
    expect(sink.got).toEqual([])
    const d = new SinkDispatcher(sink, { maxQueue: 10, maxAttempts: 1, backoffMs: 1, maxBackoffMs: 1 })
    e.reconfigure(settingsOf([once], [d]))
    await run(e, [input(point(1, { errors: 60 }))])
    await settled(allSettled(actions))
    expect(sink.got.flat().map((n) => `${n.event} ${n.alert.mode} ${n.alert.labels.severity}`)).toEqual([
      'repeat enforce warning',
    ])
    e.reconfigure(settingsOf([{ ...once, severity: 'critical', labels: { team: 'core' } }], [d]))
    await run(e, [input(point(2, { errors: 60 }))])
    await settled(() => sink.got.length === 2)
    expect(sink.got[1].map((n) => [n.event, n.alert.labels.severity, n.alert.labels.team])).toEqual([
      ['repeat', 'critical', 'core'],
    ])
    // a threshold change alone sends nothing
    e.reconfigure(settingsOf([{ ...once, severity: 'critical', labels: { team: 'core' }, ratio: 0.55 }], [d]))
    await run(e, [input(point(3, { errors: 60 }))])
    await settled(allSettled(actions))
    expect(sink.got).toHaveLength(2)
  })

  it('a run paged in enforce mode keeps it when its rule moves to shadow, so its resolution is sent', async () => {
    const { e, sink, actions } = engine([once])
    await run(e, [input(point(0, { errors: 60 }))])
    const d = new SinkDispatcher(sink, { maxQueue: 10, maxAttempts: 1, backoffMs: 1, maxBackoffMs: 1 })
    e.reconfigure(settingsOf([{ ...once, mode: 'shadow' }], [d]))
    await run(e, [input(point(1, { errors: 1 }))])
    await settled(allSettled(actions))
    expect(sink.got.flat().map((n) => n.event)).toEqual(['firing', 'resolved'])
  })
})
