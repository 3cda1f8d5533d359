import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { alertmanagerBinary, startAlertmanager } from '../../test/helpers/alertmanager.js'
import { sinkSchema } from '../config/alerts-schema.js'
import { SinkDispatcher, type DeliveryOutcome } from './dispatcher.js'
import { slackEscape } from './payload.js'
import { createSink, redactUrl, SinkError, type Sink } from './sinks.js'
import type { Alert, Notification } from './types.js'

interface Received {
  url: string
  headers: IncomingHttpHeaders
  body: unknown
}

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
})

/** A local receiver answering with `status(n)` for the n-th request (1-based). */
async function receiver(status: (n: number) => number = () => 200, delayMs = 0) {
  const got: Received[] = []
  let n = 0
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      n++
      got.push({ url: req.url ?? '', headers: req.headers, body: body === '' ? null : JSON.parse(body) })
      setTimeout(() => res.writeHead(status(n)).end(), delayMs)
    })
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as { port: number }).port
  return { got, url: `http://127.0.0.1:${port}` }
}

const nasty = 'orders"</script><b>&x</b>\n\u2028'
function notification(over: Partial<Alert> = {}, event: Notification['event'] = 'firing'): Notification {
  const evidence = {
    active: true,
    metric: 'errorRatio',
    observed: 0.31,
    expected: 0.01,
    band: [0, 0.05] as [number, number],
    threshold: 0.05,
    summary: `error ratio 31% on ${nasty}`,
    details: {},
    rule: 'errs',
    kind: 'error-ratio' as const,
    key: `${nasty}|*|prod`,
    windowStartMs: 1_000,
    windowMs: 1_000,
    links: {
      alert: 'http://a/api/alerts/fp1',
      series: 'http://a/api/series',
      points: 'http://a/api/series/x/points?a=1&b=2',
    },
  }
  const alert: Alert = {
    fingerprint: 'fp1',
    rule: 'errs',
    kind: 'error-ratio',
    mode: 'enforce',
    severity: 'critical',
    key: evidence.key,
    series: { service: nasty, route: '*', env: 'prod' },
    level: 'service',
    labels: {
      alertname: 'errs',
      service: nasty,
      route: '*',
      env: 'prod',
      severity: 'critical',
      kind: 'error-ratio',
    },
    state: event === 'resolved' ? 'resolved' : 'firing',
    activeAtMs: 1_000,
    firingAtMs: 1_000,
    resolvedAtMs: event === 'resolved' ? 5_000 : null,
    resolvedBy: null,
    lastEvalMs: 2_000,
    lastTrafficMs: 2_000,
    pastRuns: [],
    trueWindows: 1,
    falseWindows: 0,
    evidence,
    latest: evidence,
    notified: { firing: false, resolved: false, repeats: 0, lastAtMs: null },
    suppressed: null,
    silencedBy: null,
    ack: null,
    incident: null,
    context: {},
    ...over,
  }
  return { id: `alert:fp1:1000:${event}`, event, alert, group: `${nasty}|prod`, fencingToken: 7, atMs: 2_000 }
}

const sink = (cfg: Record<string, unknown>) => createSink(sinkSchema.parse(cfg))

describe('sinks', () => {
  it('webhook: JSON with evidence, escaped values, idempotency key and fencing token', async () => {
    const r = await receiver()
    const s = sink({
      name: 'ops',
      kind: 'webhook',
      url: `${r.url}/hook?token=s3cret`,
      headers: { authorization: 'Bearer x' },
    })
    await s.send([notification()])
    expect(r.got).toHaveLength(1)
    const req = r.got[0]
    expect(req.url).toBe('/hook?token=s3cret')
    expect(req.headers['content-type']).toBe('application/json')
    expect(req.headers.authorization).toBe('Bearer x')
    expect(req.headers['x-vigil-fencing-token']).toBe('7')
    expect(req.headers['idempotency-key']).toMatch(/^[0-9a-f]{32}$/)
    const body = req.body as {
      alerts: { labels: Record<string, string>; summary: string; evidence: unknown; id: string }[]
    }
    expect(body).toMatchObject({
      version: '1',
      receiver: 'ops',
      status: 'firing',
      groupLabels: { service: nasty, env: 'prod' },
    })
    expect(body.alerts[0].labels.service).toBe(nasty) // round-trips exactly: escaped by JSON, not mangled
    expect(body.alerts[0].summary).toBe(`error ratio 31% on ${nasty}`)
    expect(body.alerts[0].id).toBe('alert:fp1:1000:firing')
    expect(body.alerts[0].evidence).toMatchObject({ observed: 0.31, expected: 0.01, band: [0, 0.05] })
    // the same batch again carries the same key
    await s.send([notification()])
    expect(r.got[1].headers['idempotency-key']).toBe(req.headers['idempotency-key'])
  })

  it('slack: text with &, < and > escaped so a label cannot inject markup or links', async () => {
    const r = await receiver()
    await sink({ name: 'chat', kind: 'slack', url: `${r.url}/services/T000/B000/XXXX` }).send([
      notification(),
    ])
    const text = (r.got[0].body as { text: string }).text
    expect(text).toContain('orders"&lt;/script&gt;&lt;b&gt;&amp;x&lt;/b&gt;')
    expect(text).not.toContain('<b>')
    expect(text).toContain('<http://a/api/series/x/points?a=1&amp;b=2|points>')
    expect(slackEscape('<@here> & co')).toBe('&lt;@here&gt; &amp; co')
  })

  it('alertmanager: posts v2 alerts to /api/v2/alerts, firing with a future endsAt, resolved with its end', async () => {
    const r = await receiver()
    const s = sink({ name: 'am', kind: 'alertmanager', url: `${r.url}/`, resendEveryMs: 60_000 })
    await s.send([notification()])
    await s.send([notification({}, 'resolved')])
    await s.close()
    expect(r.got.map((g) => g.url)).toEqual(['/api/v2/alerts', '/api/v2/alerts'])
    const [firing] = r.got[0].body as {
      labels: Record<string, string>
      endsAt: string
      annotations: Record<string, string>
    }[]
    expect(firing.labels).toMatchObject({ alertname: 'errs', severity: 'critical' })
    expect(Date.parse(firing.endsAt)).toBeGreaterThan(Date.now() + 200_000)
    expect(JSON.parse(firing.annotations.evidence)).toMatchObject({ observed: 0.31 })
    const [resolved] = r.got[1].body as { endsAt: string }[]
    expect(resolved.endsAt).toBe(new Date(5_000).toISOString())
  })

  it('shows the impact and root cause enrichers added: Slack lines, Alertmanager annotations, webhook context', async () => {
    const context = {
      impact: {
        summary: '≈1,240 users affected in the next 30 minutes (90% interval 1,100–1,390) on shop',
        usersAffected: { value: 1240, low: 1100, high: 1390 },
      },
      rootCause: {
        summary: 'likely root cause of the errors: pricing (aws) 0.71 <b>',
        candidates: [{ service: 'pricing', score: 0.71 }],
      },
      note: 'no summary: not shown',
    }
    const r = await receiver()
    await sink({ name: 'chat', kind: 'slack', url: `${r.url}/slack` }).send([notification({ context })])
    const am = sink({ name: 'am', kind: 'alertmanager', url: `${r.url}/`, resendEveryMs: 60_000 })
    await am.send([notification({ context, incident: 'fp0' })])
    await am.close()
    await sink({ name: 'ops', kind: 'webhook', url: `${r.url}/hook` }).send([notification({ context })])
    const text = (r.got[0].body as { text: string }).text
    expect(text).toContain(
      '≈1,240 users affected in the next 30 minutes (90% interval 1,100–1,390) on shop\n',
    )
    expect(text).toContain('likely root cause of the errors: pricing (aws) 0.71 &lt;b&gt;')
    expect(text).not.toContain('no summary')
    const [alert] = r.got[1].body as { annotations: Record<string, string> }[]
    expect(alert.annotations).toMatchObject({
      incident: 'fp0',
      impact: context.impact.summary,
      rootCause: context.rootCause.summary,
    })
    expect(alert.annotations.note).toBeUndefined()
    const hook = r.got[2].body as { alerts: { context: typeof context }[] }
    expect(hook.alerts[0].context).toEqual(context)
  })

  it('file: one JSON line per notification', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-sink-'))
    try {
      const path = join(dir, 'a', 'alerts.jsonl')
      const s = sink({ name: 'log', kind: 'file', path })
      await s.send([notification(), notification({}, 'resolved')])
      const lines = readFileSync(path, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
      expect(lines.map((l) => [l.receiver, l.status])).toEqual([
        ['log', 'firing'],
        ['log', 'resolved'],
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('never shows a sink URL beyond its origin', () => {
    const s = sink({
      name: 'chat',
      kind: 'slack',
      url: 'https://user:pw@hooks.slack.com/services/T0/B0/SECRET?x=1',
    })
    expect(s.describe).toBe('slack https://hooks.slack.com/…')
    expect(redactUrl('http://127.0.0.1:9/a/b?token=1')).toBe('http://127.0.0.1:9/…')
  })
})

describe('SinkDispatcher', () => {
  const dispatch = (s: Sink, maxAttempts = 3, maxQueue = 100, onWarn?: (m: string) => void) =>
    new SinkDispatcher(s, { maxQueue, maxAttempts, backoffMs: 5, maxBackoffMs: 20, onWarn, random: () => 0 })
  /** a webhook dispatcher whose retry waits a minute: a notification after the first stays queued */
  const stalled = (name: string, url: string) =>
    new SinkDispatcher(sink({ name, kind: 'webhook', url }), {
      maxQueue: 10,
      maxAttempts: 10,
      backoffMs: 60_000,
      maxBackoffMs: 60_000,
    })
  const outcome = (d: SinkDispatcher, n = notification()) =>
    new Promise<DeliveryOutcome>((resolve) => d.enqueue([n], resolve))

  it('retries 5xx with backoff until delivered', async () => {
    const r = await receiver((n) => (n < 3 ? 503 : 200))
    const d = dispatch(sink({ name: 'ops', kind: 'webhook', url: r.url }))
    expect(await outcome(d)).toEqual({ sink: 'ops', status: 'delivered', attempts: 3 })
    expect(d.stats).toMatchObject({ delivered: 1, retries: 2 })
  })

  it('does not retry a 4xx, and gives up after maxAttempts on 5xx; warns once, with no secret', async () => {
    const warnings: string[] = []
    const r = await receiver((n) => (n === 1 ? 400 : 500))
    const d = dispatch(sink({ name: 'ops', kind: 'webhook', url: `${r.url}/p?token=s3cret` }), 3, 100, (m) =>
      warnings.push(m),
    )
    const first = await outcome(d)
    expect(first).toMatchObject({
      status: 'failed',
      attempts: 1,
      detail: expect.stringMatching(/HTTP 400 \(not retried/),
    })
    expect(r.got).toHaveLength(1)
    const second = await outcome(d)
    expect(second).toMatchObject({
      status: 'failed',
      attempts: 3,
      detail: expect.stringMatching(/HTTP 500 after 3 tries/),
    })
    await outcome(d)
    expect(d.stats.failed).toBe(3)
    expect(warnings.length).toBeLessThanOrEqual(3) // refused, retrying, failed: once each
    expect(warnings.join('\n')).not.toContain('s3cret')
    expect(warnings.join('\n')).not.toContain('/p?')
  })

  it('a dead sink does not hold up another, and a full queue drops and counts instead of growing', async () => {
    const dead = dispatch(
      sink({ name: 'dead', kind: 'webhook', url: 'http://127.0.0.1:9/x', timeoutMs: 200 }),
      5,
      2,
    )
    const live = await receiver()
    const ok = dispatch(sink({ name: 'ok', kind: 'webhook', url: live.url }))
    const t0 = Date.now()
    const deadOutcomes = [outcome(dead), outcome(dead), outcome(dead), outcome(dead)]
    expect(await outcome(ok)).toMatchObject({ status: 'delivered' })
    expect(Date.now() - t0).toBeLessThan(1_000)
    const res = await Promise.all(deadOutcomes)
    expect(res.map((o) => o.status).sort()).toEqual(['dropped', 'failed', 'failed', 'failed'])
    expect(dead.stats).toMatchObject({ dropped: 1, failed: 3 })
  })

  /** A sink that answers 503 while `down.now` is true, counting its calls. */
  const flaky = (down: { now: boolean }): Sink & { calls: number } => {
    const s = {
      name: 'ops',
      kind: 'webhook' as const,
      describe: 'webhook http://127.0.0.1:9/…',
      calls: 0,
      send: async () => {
        s.calls++
        if (down.now) throw new SinkError('http://127.0.0.1:9/…: HTTP 503', true)
      },
      close: async () => {},
    }
    return s
  }

  it('with the default retries, a receiver down for a minute gets the notification once it is back', async () => {
    vi.useFakeTimers()
    try {
      const down = { now: true }
      const s = flaky(down)
      const cfg = sinkSchema.parse({ name: 'ops', kind: 'webhook', url: 'http://127.0.0.1:9/x' })
      const d = SinkDispatcher.fromConfig(s, cfg)
      const out = outcome(d)
      await vi.advanceTimersByTimeAsync(60_000)
      down.now = false
      await vi.advanceTimersByTimeAsync(120_000)
      expect(await out).toMatchObject({ status: 'delivered' })
      expect(s.calls).toBeGreaterThan(2)
    } finally {
      vi.useRealTimers()
    }
  })

  it('a sink that fails again after delivering in between is warned about again: once per outage', async () => {
    const warnings: string[] = []
    const down = { now: true }
    const d = dispatch(flaky(down), 2, 100, (m) => warnings.push(m))
    expect(await outcome(d)).toMatchObject({ status: 'failed' })
    expect(await outcome(d)).toMatchObject({ status: 'failed' })
    expect(warnings).toHaveLength(2) // retrying, not delivered: the second failure of the outage is only counted
    down.now = false
    expect(await outcome(d)).toMatchObject({ status: 'delivered' })
    down.now = true
    expect(await outcome(d)).toMatchObject({ status: 'failed' })
    expect(warnings).toHaveLength(4)
    expect(warnings.slice(2)).toEqual(warnings.slice(0, 2))
  })

  it('close gives a waiting notification one last try, then reports the rest as dropped', async () => {
    const r = await receiver(() => 503)
    const d = stalled('ops', r.url)
    const a = outcome(d)
    const b = outcome(d)
    await new Promise((res) => setTimeout(res, 50))
    await d.close(500)
    expect((await a).status).toBe('failed')
    expect((await b).status).toBe('dropped')
  })

  it('a sink a reload removed delivers what it holds, takes nothing new, and reports what is left after its grace', async () => {
    const r = await receiver((n) => (n < 2 ? 503 : 200))
    const d = dispatch(sink({ name: 'ops', kind: 'webhook', url: r.url }))
    const queued = [outcome(d), outcome(d)]
    const retired = d.retire(5_000)
    expect(await outcome(d)).toMatchObject({ status: 'dropped' })
    await retired
    expect((await Promise.all(queued)).map((o) => o.status)).toEqual(['delivered', 'delivered'])
    // a sink that never answers in time: what waits is reported, naming the reload
    const down = await receiver(() => 503)
    const slow = stalled('old', down.url)
    const [first, second] = [outcome(slow), outcome(slow)]
    await slow.retire(100)
    expect((await first).status).toBe('failed')
    expect(await second).toMatchObject({
      status: 'dropped',
      detail: 'the sink was removed from the config before delivery',
    })
  })

  it('a sink a reload changed hands its waiting notifications to its replacement', async () => {
    const old = await receiver(() => 503)
    const fixed = await receiver()
    const d = stalled('ops', old.url)
    const [inFlight, waiting] = [outcome(d), outcome(d)]
    await new Promise((res) => setTimeout(res, 50))
    await d.handOver(dispatch(sink({ name: 'ops', kind: 'webhook', url: fixed.url })), 100)
    expect(await waiting).toEqual({ sink: 'ops', status: 'delivered', attempts: 1 })
    expect((await inFlight).status).toBe('failed')
    expect(fixed.got).toHaveLength(1)
  })
})

const amBinary = alertmanagerBinary()

describe.skipIf(amBinary === null)(
  'AlertmanagerSink against a real Alertmanager',
  { timeout: 30_000 },
  () => {
    it('Alertmanager shows the alert active with its labels and evidence, and drops it once resolved', async () => {
      const am = await startAlertmanager(amBinary!)
      try {
        const s = sink({ name: 'am', kind: 'alertmanager', url: am.url, resendEveryMs: 60_000 })
        const firing = notification({
          labels: { alertname: 'errs', service: 'orders', env: 'prod', severity: 'critical' },
        })
        firing.alert.firingAtMs = Date.now() - 5_000
        await s.send([firing])
        const active = await am.alerts()
        expect(active).toHaveLength(1)
        expect(active[0].labels).toMatchObject({ alertname: 'errs', service: 'orders', severity: 'critical' })
        expect(active[0].status.state).toBe('active')
        expect(JSON.parse(active[0].annotations.evidence)).toMatchObject({ observed: 0.31, threshold: 0.05 })
        const resolved = notification({ labels: firing.alert.labels }, 'resolved')
        resolved.alert.firingAtMs = firing.alert.firingAtMs
        resolved.alert.resolvedAtMs = Date.now() - 1_000
        await s.send([resolved])
        const after = await am.alerts()
        expect(after.filter((a) => a.status.state === 'active')).toHaveLength(0)
        await s.close()
        // a malformed alert is a 400, which the dispatcher does not retry
        const bad = sink({ name: 'am', kind: 'alertmanager', url: am.url })
        const broken = notification({ labels: { 'bad-label': 'x' } })
        await expect(bad.send([broken])).rejects.toMatchObject({
          retryable: false,
          message: expect.stringMatching(/HTTP 400/),
        })
      } finally {
        await am.close()
      }
    })
  },
)
