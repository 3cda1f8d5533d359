// The server side of bench/dashboard.bench.mjs, in its own process so its CPU is measured alone:
// an admin server with the dashboard (assets, session, live feed) over a fake system of SERIES
// route series in SERVICES services (plus their roll-ups and the global series), every one closing
// a window every WINDOW_MS, as `vigil demo` does on its 2 s clock. MODE=diff is the real feed;
// MODE=full sends the whole series list every tick (the baseline a naive feed would be).
// Answers IPC messages: 'cpu' → CPU ms since the last 'cpu' and the hub's counters.
import { buildAdminApp } from '../dist/api/server.js'
import { LiveHub } from '../dist/api/live.js'
import { liveSections, liveSeries } from '../dist/api/live-sections.js'
import { dashboardRoutes } from '../dist/api/routes/dashboard.js'
import { seriesRoutes } from '../dist/api/routes/series.js'
import { uiAssetsRoutes } from '../dist/api/ui-assets.js'

const SERIES = Number(process.env.SERIES ?? 1000)
const SERVICES = Number(process.env.SERVICES ?? 50)
const WINDOW_MS = Number(process.env.WINDOW_MS ?? 2000)
const MODE = process.env.MODE ?? 'diff'
const TOKEN = process.env.TOKEN ?? 'bench-token'

const keys = []
for (let i = 0; i < SERIES; i++) keys.push({ service: `svc${i % SERVICES}`, route: `/r${i}`, env: 'prod' })
for (let s = 0; s < Math.min(SERVICES, SERIES); s++)
  keys.push({ service: `svc${s}`, route: '*', env: 'prod' })
keys.push({ service: '*', route: '*', env: '*' })

function summary(k, i, startMs) {
  const count = 100 + ((i * 37 + startMs / WINDOW_MS) % 50)
  const p50 = 20 + (i % 13)
  return {
    key: `${k.service}|${k.route}|${k.env}`,
    series: k,
    level: k.service === '*' ? 'global' : k.route === '*' ? 'service' : 'route',
    firstSeenMs: 0,
    lastSeenMs: startMs,
    last: {
      startMs,
      durationMs: WINDOW_MS,
      count,
      ratePerSec: count / (WINDOW_MS / 1000),
      errorRatio: (i % 50) / 1000,
      limitedRatio: 0,
      timeouts: 0,
      connectErrors: 0,
      statusClass: [0, count, 0, 0, 0],
      bytesIn: 0,
      bytesOut: 0,
      p50,
      p95: p50 * 2,
      p99: p50 * 3,
      sources: 1,
    },
  }
}

// every series closes a window every WINDOW_MS, at a phase of its own (as merged windows land)
const source = {
  listSeries: async () => {
    const now = Date.now()
    return keys.map((k, i) => {
      const phase = (i * 97) % WINDOW_MS
      const start = Math.floor((now - phase) / WINDOW_MS) * WINDOW_MS
      return summary(k, i, start)
    })
  },
  points: async () => [],
}
const services = Array.from({ length: SERVICES }, (_, s) => ({
  name: `svc${s}`,
  balancer: 'round-robin',
  targets: [
    {
      url: `http://10.0.0.${s}:80`,
      healthy: true,
      breaker: 'closed',
      ejectedUntilMs: null,
      inFlight: 0,
      recentErrorRate: 0,
      recentRequests: 0,
    },
  ],
}))

const sections = liveSections({ services: () => services, series: source })
if (MODE === 'full')
  sections.series = {
    kind: 'value',
    read: async () => (await source.listSeries()).map(liveSeries),
  }
const hub = new LiveHub({ sections })
const app = await buildAdminApp({
  token: TOKEN,
  env: {},
  sources: {
    ready: () => true,
    routes: () => [],
    services: () => services,
    reload: async () => ({ ok: true, routes: 0 }),
  },
  plugins: [
    uiAssetsRoutes(),
    seriesRoutes({ source, windowMs: WINDOW_MS }),
    dashboardRoutes({
      hub,
      token: TOKEN,
      info: { mode: 'bench', env: 'prod', windowMs: WINDOW_MS, version: '0' },
    }),
  ],
})
await app.listen({ host: '127.0.0.1', port: 0 })
let last = process.cpuUsage()
let lastStats = { ...hub.stats }
process.on('message', (m) => {
  if (m === 'cpu') {
    const d = process.cpuUsage(last)
    last = process.cpuUsage()
    const s = { ...hub.stats }
    process.send({
      cpuMs: (d.user + d.system) / 1000,
      ticks: s.ticks - lastStats.ticks,
      events: s.events - lastStats.events,
      bytes: s.bytes - lastStats.bytes,
      clients: hub.clients,
    })
    lastStats = s
  } else if (m === 'stop') {
    void app.close().then(() => process.exit(0))
  }
})
process.send({ url: `http://127.0.0.1:${app.server.address().port}`, series: keys.length })
