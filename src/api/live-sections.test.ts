import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import type { Alert } from '../alerts/types.js'
import type { ServiceScaling } from '../scale/autoscaler.js'
import { LiveHub, type KeyedSection } from './live.js'
import { liveAlert, liveSections, type LiveAlert, type LiveScaling } from './live-sections.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { scalingRoutes } from './routes/scaling.js'
import { buildAdminApp } from './server.js'

function alert(rule: string, key: string, over: Partial<Alert> = {}): Alert {
  const [service, route, env] = key.split('|')
  const ev = {
    active: true,
    metric: 'p95',
    observed: 900,
    expected: 300,
    band: [200, 400] as [number, number],
    threshold: 800,
    summary: `p95 900 ms > 800 ms (${rule})`,
    details: {},
    rule,
    kind: 'latency' as const,
    key,
    windowStartMs: 1000,
    windowMs: 1000,
    links: { alert: '/a', series: '/s', points: '/p' },
  }
  return {
    fingerprint: `${rule}-${service}`,
    rule,
    kind: 'latency',
    mode: 'enforce',
    severity: 'warning',
    key,
    series: { service, route, env },
    level: 'service',
    labels: { alertname: rule },
    state: 'firing',
    activeAtMs: 1000,
    firingAtMs: 2000,
    resolvedAtMs: null,
    resolvedBy: null,
    lastEvalMs: 3000,
    lastTrafficMs: 3000,
    pastRuns: [],
    trueWindows: 2,
    falseWindows: 0,
    evidence: ev,
    latest: ev,
    notified: { firing: true, resolved: false, repeats: 0, lastAtMs: 2000 },
    suppressed: null,
    silencedBy: null,
    ack: null,
    incident: null,
    context: {},
    ...over,
  }
}

const scaling = (name: string, over: Partial<ServiceScaling> = {}): ServiceScaling => ({
  service: name,
  mode: 'enforce',
  actuator: 'process',
  current: 2,
  desired: 3,
  min: 1,
  max: 4,
  capacityPerReplica: 8,
  capacity: null,
  capacityRestored: null,
  replayed: null,
  replicas: [
    { id: 'a', url: 'http://127.0.0.1:1', ready: true, startedAtMs: 1 },
    { id: 'b', url: 'http://127.0.0.1:2', ready: false, startedAtMs: 2 },
  ],
  decisions: [
    {
      atMs: 5000,
      current: 2,
      desired: 3,
      direction: 'up',
      driver: 'predictive',
      reason: 'scale up 2 → 3: the forecast needs 3',
      evidence: {
        observed: 10,
        reactiveNeed: 2,
        predictiveNeed: 3,
        forecast: 18,
        upper: 22,
        model: 'ets',
        level: 80,
        windowNeed: 2,
        headroomShare: 1,
      },
    },
  ],
  lastError: null,
  inFlight: null,
  ...over,
})

const read = <T>(s: unknown) => (s as KeyedSection<T>).read() as Promise<T[]>

describe('the live feed sections for alerts and autoscaling', () => {
  it('sends each active alert under its fingerprint, never its series key', async () => {
    const asked: unknown[] = []
    const sections = liveSections({
      alerts: {
        listAlerts: async (q) => {
          asked.push(q)
          return [
            alert('slow', 'orders|*|prod'),
            alert('errors', 'orders|*|prod', { state: 'pending', ack: { by: 'ann', comment: '', atMs: 1 } }),
          ]
        },
      },
    })
    const items = await read<LiveAlert>(sections.alerts)
    expect(asked).toEqual([{ state: 'active' }])
    // the dashboard keys items by `key ?? id`: a series key would merge both alerts into one
    expect(items.map((a) => 'key' in a)).toEqual([false, false])
    expect(items.map((a) => a.id)).toEqual(['slow-orders', 'errors-orders'])
    expect(items[1]).toMatchObject({
      state: 'pending',
      ackBy: 'ann',
      series: 'orders|*|prod',
      service: 'orders',
    })
  })

  it('an active alert whose newest window could not be judged reads the evidence it fired on, then why the newest was not judged', () => {
    const firing = alert('errors', 'users|*|demo')
    const thin = {
      ...firing.latest,
      active: null,
      noData: 'requests' as const,
      summary: '0 requests sent upstream (24 answered by the gateway itself), fewer than minRequests 10',
    }
    expect(liveAlert({ ...firing, latest: thin }).summary).toBe(
      'p95 900 ms > 800 ms (errors) (newest window not judged: 0 requests sent upstream (24 answered by the gateway itself), fewer than minRequests 10)',
    )
    // judged windows, and a resolved alert, read the newest conclusion as before
    const calmer = { ...firing.latest, active: true, summary: 'p95 850 ms > 800 ms' }
    expect(liveAlert({ ...firing, latest: calmer }).summary).toBe('p95 850 ms > 800 ms')
    expect(liveAlert({ ...firing, state: 'resolved', latest: thin }).summary).toBe(thin.summary)
  })

  it('sends replica counts per scaled service with the newest change', async () => {
    const sections = liveSections({
      scaling: {
        autoscaler: {
          scaling: async (name) =>
            name === 'users' ? scaling('users') : scaling(name, { decisions: [], desired: null }),
        },
        services: ['users', 'orders'],
      },
    })
    const items = await read<LiveScaling>(sections.scaling)
    expect(items[0]).toMatchObject({
      id: 'users',
      current: 2,
      desired: 3,
      ready: 1,
      lastChange: { atMs: 5000, direction: 'up' },
    })
    expect(items[1]).toMatchObject({ id: 'orders', lastChange: null, desired: null })
    expect(
      liveSections({ scaling: { autoscaler: { scaling: async () => scaling('x') }, services: [] } }),
    ).toEqual({})
  })
})

describe('GET /api/scaling and the pages it offers', () => {
  const apps: FastifyInstance[] = []
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()))
  })

  it('lists every scaled service; the session offers the autoscaling and journeys pages', async () => {
    const autoscaler = {
      scaling: async (name: string) => scaling(name),
      scale: async () => ({ id: '1', status: 'ok', before: 1, after: 2 }),
      restart: async () => ({ id: '2', status: 'ok' }),
    }
    const app = await buildAdminApp({
      token: 'tok',
      env: {},
      sources: {
        ready: () => true,
        routes: () => [],
        services: () => [],
        reload: async () => ({ ok: true, routes: 0 }),
      },
      plugins: [
        scalingRoutes({ autoscaler, services: ['users', 'orders'] }),
        async (a) => void a.get('/api/graph', async () => ({})),
        dashboardRoutes({
          hub: new LiveHub({ sections: {} }),
          token: 'tok',
          info: { mode: 'embedded', env: 'test', windowMs: 1000, version: '0' },
        }),
      ],
    })
    apps.push(app)
    const list = await app.inject({ url: '/api/scaling' })
    expect(list.statusCode).toBe(200)
    expect(list.json().services.map((s: ServiceScaling) => s.service)).toEqual(['users', 'orders'])
    const session = await app.inject({ url: '/api/session', headers: { authorization: 'Bearer tok' } })
    expect(session.json().features.sort()).toEqual(['journeys', 'scale'])
  })
})
