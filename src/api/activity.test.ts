import { describe, expect, it } from 'vitest'
import { ActivityLog, anomalyActivity, auditActivity, followActions } from './activity.js'

describe('activity', () => {
  it('keeps the newest entries, newest first, and tells listeners', () => {
    const log = new ActivityLog(3)
    const seen: string[] = []
    log.on('entry', (e: { summary: string }) => seen.push(e.summary))
    for (let i = 0; i < 5; i++)
      log.push({ atMs: i, kind: 'x', actor: 'a', subject: 's', summary: `e${i}`, severity: 'info' })
    expect(log.recent().map((e) => e.summary)).toEqual(['e4', 'e3', 'e2'])
    expect(seen).toHaveLength(5)
    expect(new Set(log.recent().map((e) => e.id)).size).toBe(3)
  })

  it('describes anomalies with their band clipped to what the metric can be, and audited changes', () => {
    const base = {
      key: 'orders|*|prod',
      observed: 0.3,
      expected: 0.01,
      low: -0.9,
      high: 1.4,
      score: 0.95,
      openedAtMs: 5,
      resolvedAtMs: null,
      level: 'service',
    }
    const e = anomalyActivity({ ...base, metric: 'limitedRatio' }, 'opened')
    expect(e.summary).toBe('Anomaly on orders (prod): throttled 30%, expected 1% (band 0–100%), score 0.95')
    expect(e.severity).toBe('critical')
    const c = anomalyActivity(
      {
        ...base,
        key: 'client:scraper',
        level: 'client',
        metric: 'client',
        children: [{ key: 'distinctRoutes', observed: 40, expected: 2 }],
      },
      'opened',
    )
    expect(c.summary).toMatch(/^Abusive client scraper: 40 routes against a typical 2 routes,/)
    expect(anomalyActivity({ ...base, metric: 'p95', resolvedAtMs: 9 }, 'resolved')).toMatchObject({
      atMs: 9,
      severity: 'info',
    })
    expect(
      auditActivity({
        at: '2026-01-01T00:00:00Z',
        kind: 'limits.tier.update',
        actor: 'dashboard',
        subject: 'STD',
        reason: 'load',
        before: { ratePerSec: 5, burst: 10, rank: 0 },
        after: { ratePerSec: 10, burst: 20, rank: 0 },
      }).summary,
    ).toBe('dashboard set tier STD to 10 req/s, burst 20 (was 5 req/s, burst 10; load)')
  })

  it('writes the unit once per range, ratios as percentages, and metrics by their names', () => {
    const at = { key: 'shop|*|demo', score: 1, openedAtMs: 5, resolvedAtMs: null, level: 'service' }
    const line = (metric: string, observed: number, expected: number, low: number, high: number) =>
      anomalyActivity({ ...at, metric, observed, expected, low, high }, 'opened').summary
    expect(line('rate', 28, 6.5, 1.523, 27.631)).toBe(
      'Anomaly on shop (demo): rate 28 req/s, expected 6.5 req/s (band 1.52–27.6 req/s), score 1.00',
    )
    expect(line('errors', 15, 0.32, -1, 2.1)).toBe(
      'Anomaly on shop (demo): 15 errors, expected 0.32 errors (band 0–2.1 errors), score 1.00',
    )
    expect(line('p50', 518, 118, 69, 201)).toBe(
      'Anomaly on shop (demo): p50 518 ms, expected 118 ms (band 69–201 ms), score 1.00',
    )
    // the value told apart from the edge of the band it left
    expect(line('p95', 812.4, 600, 400, 812.1)).toBe(
      'Anomaly on shop (demo): p95 812.4 ms, expected 600 ms (band 400–812.1 ms), score 1.00',
    )
    const client = anomalyActivity(
      {
        ...at,
        key: 'client:scraper-std',
        level: 'client',
        metric: 'client',
        observed: 0.73,
        expected: 0.23,
        low: 0,
        high: 0.23,
        children: [{ key: 'errorRatio', observed: 0.732, expected: 0.227 }],
      },
      'opened',
    )
    expect(client.summary).toBe(
      'Abusive client scraper-std: refused at its own limit or failed 73.2% against a typical 22.7%, score 1.00',
    )
    const resolved = (metric: string) =>
      anomalyActivity(
        { ...at, metric, observed: 0, expected: 0, low: 0, high: 1, resolvedAtMs: 9 },
        'resolved',
      ).summary
    expect(resolved('limitedRatio')).toBe('Resolved: throttled share on shop (demo) is back in its band')
    expect(resolved('errors')).toBe('Resolved: 5xx errors on shop (demo) are back in their band')
    expect(resolved('p95')).toBe('Resolved: p95 on shop (demo) is back in its band')
  })

  it('follows an action log once per action, oldest first, surviving a failing poll', async () => {
    const log = new ActivityLog()
    const now = Date.now()
    const action = (id: string, atMs: number) => ({
      id,
      atMs,
      kind: 'limits.multiplier',
      policy: 'forecast-pressure',
      mode: id === 'b' ? 'shadow' : 'enforce',
      target: 'service:orders',
      reason: 'forecast above budget',
      result: { status: 'ok' },
    })
    let list = [action('a', now)]
    let fail = false
    const stop = followActions(
      {
        actions: async () =>
          fail ? Promise.reject(new Error('restarting')) : { actions: [...list].reverse() },
      },
      log,
      20,
    )
    await new Promise((r) => setTimeout(r, 70))
    fail = true
    list = [action('a', now), action('b', now + 1)]
    await new Promise((r) => setTimeout(r, 50))
    fail = false
    await new Promise((r) => setTimeout(r, 70))
    stop()
    expect(log.recent().map((e) => e.summary)).toEqual([
      'Forecast-pressure would have done limits.multiplier on orders (shadow mode; forecast above budget)',
      'Forecast-pressure did limits.multiplier on orders (forecast above budget)',
    ])
  })

  it("waits for an enforced action's outcome before telling it, unless it stays under way", async () => {
    const log = new ActivityLog()
    const now = Date.now()
    const scale = (id: string, atMs: number, status: string, detail?: string) => ({
      id,
      atMs,
      kind: 'scale.replicas',
      policy: 'autoscale',
      mode: 'enforce',
      target: 'service:users',
      before: 2,
      after: 3,
      reason: 'scale up 2 → 3: the observed load needs 3',
      evidence: { observed: 40, reactiveNeed: 3, predictiveNeed: null, capacity: { perReplica: 15 } },
      result: { status, ...(detail !== undefined ? { detail } : {}) },
    })
    // b was recorded long ago and is still booting a replica: it shows as under way
    let list = [scale('a', now, 'pending'), scale('b', now - 40_000, 'pending')]
    const stop = followActions({ actions: async () => ({ actions: [...list].reverse() }) }, log, 20)
    await new Promise((r) => setTimeout(r, 70))
    expect(log.recent().map((e) => e.summary)).toEqual([
      'Scaling users 2 → 3 replicas (observed 40 req/s; 15 req/s per replica)',
    ])
    list = [scale('a', now, 'failed', 'replica r3 never became healthy'), scale('b', now - 40_000, 'ok')]
    await new Promise((r) => setTimeout(r, 70))
    stop()
    expect(log.recent().map((e) => [e.summary, e.severity])).toEqual([
      [
        'Failed to scale users 2 → 3 replicas: replica r3 never became healthy (observed 40 req/s; 15 req/s per replica)',
        'warning',
      ],
      ['Scaling users 2 → 3 replicas (observed 40 req/s; 15 req/s per replica)', 'info'],
    ])
  })
})
