import { afterEach, describe, expect, it } from 'vitest'
import { registry } from '../metrics.js'
import { setAlertMetricsProvider, type AlertMetricsSnapshot } from './metrics.js'

const sink = (name: string, over: Partial<AlertMetricsSnapshot['sinks'][number]> = {}) => ({
  sink: name,
  delivered: 0,
  failed: 0,
  dropped: 0,
  retries: 0,
  queued: 0,
  ...over,
})

const scrape = async () => {
  // snapshots are shared for 100 ms so one scrape reads the engine once
  await new Promise((r) => setTimeout(r, 120))
  return registry.metrics()
}

describe('alert metrics', () => {
  afterEach(() => setAlertMetricsProvider(null))

  it('show alerts by state and notifications per sink by outcome, as the engine counts them', async () => {
    let snap: AlertMetricsSnapshot = {
      states: { pending: 1, firing: 2, resolved: 3 },
      sinks: [sink('hook', { delivered: 5, retries: 1 }), sink('dead', { failed: 4, dropped: 2, queued: 7 })],
    }
    setAlertMetricsProvider(async () => snap)
    let text = await scrape()
    for (const line of [
      'vigil_alerts{state="pending"} 1',
      'vigil_alerts{state="firing"} 2',
      'vigil_alerts{state="resolved"} 3',
      'vigil_alert_notifications_total{sink="hook",outcome="delivered"} 5',
      'vigil_alert_notifications_total{sink="dead",outcome="failed"} 4',
      'vigil_alert_notifications_total{sink="dead",outcome="dropped"} 2',
      'vigil_alert_sink_retries_total{sink="hook"} 1',
      'vigil_alert_sink_queue{sink="dead"} 7',
    ])
      expect(text).toContain(line)
    // counters follow the engine's totals, not a sum of scrapes; a state that empties shows 0
    snap = {
      states: { pending: 0, firing: 1, resolved: 3 },
      sinks: [sink('hook', { delivered: 6, retries: 1 }), sink('dead', { failed: 5, dropped: 2 })],
    }
    text = await scrape()
    expect(text).toContain('vigil_alerts{state="pending"} 0')
    expect(text).toContain('vigil_alerts{state="firing"} 1')
    expect(text).toContain('vigil_alert_notifications_total{sink="hook",outcome="delivered"} 6')
    expect(text).toContain('vigil_alert_notifications_total{sink="dead",outcome="failed"} 5')
    expect(text).toContain('vigil_alert_sink_queue{sink="dead"} 0')
  })

  it('shows nothing once detached', async () => {
    setAlertMetricsProvider(async () => ({
      states: { pending: 0, firing: 4, resolved: 0 },
      sinks: [sink('hook')],
    }))
    expect(await scrape()).toContain('vigil_alerts{state="firing"} 4')
    setAlertMetricsProvider(null)
    const text = await scrape()
    expect(text).not.toContain('vigil_alerts{state=')
    expect(text).not.toContain('sink="hook"')
  })
})
