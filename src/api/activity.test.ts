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
    expect(e.summary).toBe(
      'anomaly on orders|*|prod: limitedRatio 30% throttled, expected 1% throttled (band 0% throttled–100% throttled), score 0.95',
    )
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
    expect(c.summary).toMatch(/^abusive client scraper: distinctRoutes 40 against a typical 2,/)
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
      }).summary,
    ).toBe('dashboard: tier update STD (load)')
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
      'would have (shadow): limits.multiplier service:orders by forecast-pressure: forecast above budget',
      'limits.multiplier service:orders by forecast-pressure: forecast above budget',
    ])
  })
})
