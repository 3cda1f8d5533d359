/**
 * @module The dashboard's API (Fastify plugin): `GET /api/session` checks the admin token and
 * tells the dashboard what this process offers; `GET /api/live` is the live feed as server-sent
 * events (batched, resumable with Last-Event-ID; see src/api/live.ts). Both need
 * `Authorization: Bearer <admin token>` even for reading: the dashboard never shows data to a
 * browser that has not logged in.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { createAuthorizer } from '../auth.js'
import type { LiveHub } from '../live.js'
import { sendProblem } from '../problem.js'

/** What the dashboard shows in its header and uses to pick its pages. */
export interface SessionInfo {
  /** `embedded` (vigil start / demo), `gateway` or `control` (scaled out) */
  mode: string
  env: string
  /** telemetry window in ms: the step of every live series */
  windowMs: number
  gatewayUrl?: string
  version: string
}

export interface DashboardRoutesOptions {
  hub: LiveHub
  token: string
  info: SessionInfo
  /**
   * Features the config turns off whose routes stay registered to answer with the error that names
   * the setting (`forecasts` while `forecast.enabled: false`): left out of `features`, so the
   * dashboard neither offers nor asks for them.
   */
  off?: readonly string[]
  /** check for the session and the feed; default `createAuthorizer(token, { reads: true })` */
  authorize?: (req: FastifyRequest) => void
  /**
   * whether `POST /api/config/reload` reloads in this process (the admin sources have a reload):
   * the `reload` feature. `vigil control` reads its config once and answers 501, so the dashboard
   * offers no Reload button there.
   */
  reload?: boolean
}

/**
 * Pages of the dashboard and the admin route each needs: a page is offered when its route is
 * registered on this server, so a page appears as soon as the area that feeds it is running.
 */
export const FEATURE_ROUTES: Readonly<Record<string, { method: 'GET'; url: string }>> = {
  series: { method: 'GET', url: '/api/series' },
  anomalies: { method: 'GET', url: '/api/anomalies' },
  forecasts: { method: 'GET', url: '/api/series/:key/forecast' },
  scores: { method: 'GET', url: '/api/series/:key/scores' },
  limits: { method: 'GET', url: '/api/limits/tiers' },
  audit: { method: 'GET', url: '/api/audit' },
  actions: { method: 'GET', url: '/api/actions' },
  alerts: { method: 'GET', url: '/api/alerts' },
  scale: { method: 'GET', url: '/api/scaling' },
  journeys: { method: 'GET', url: '/api/graph' },
}

export function dashboardRoutes(opts: DashboardRoutesOptions): FastifyPluginAsync {
  const authorize = opts.authorize ?? createAuthorizer(opts.token, { reads: true })
  const { hub } = opts
  const off = new Set(opts.off)
  return async function dashboardPlugin(app) {
    // an open stream would keep close() waiting: end every stream first
    app.addHook('preClose', (done) => {
      hub.close()
      done()
    })

    app.get(
      '/api/session',
      {
        schema: {
          tags: ['dashboard'],
          summary: 'Checks the admin token; answers what this process offers the dashboard',
          security: [{ bearerAuth: [] }],
        },
      },
      async (req, reply) => {
        try {
          authorize(req)
        } catch (err) {
          return sendProblem(reply, err)
        }
        const features = Object.entries(FEATURE_ROUTES)
          .filter(([name, r]) => !off.has(name) && req.server.hasRoute(r))
          .map(([name]) => name)
        if (opts.reload === true) features.push('reload')
        return { ok: true, ...opts.info, features, liveEventId: hub.lastEventId }
      },
    )

    app.get(
      '/api/live',
      {
        schema: {
          tags: ['dashboard'],
          summary:
            'Live feed (text/event-stream): a snapshot, then one batched delta per second with what changed; resume with Last-Event-ID',
          security: [{ bearerAuth: [] }],
        },
      },
      async (req, reply) => {
        try {
          authorize(req)
        } catch (err) {
          return sendProblem(reply, err)
        }
        reply.hijack()
        const res = reply.raw
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          // the socket ends with the stream: a server closing (or restarting) is not kept
          // waiting by a connection that would sit idle after it
          connection: 'close',
          'x-accel-buffering': 'no',
        })
        res.flushHeaders()
        req.raw.socket.setNoDelay(true)
        const client = {
          write: (chunk: string) => res.write(chunk),
          buffered: () => res.writableLength,
          // once flushed, the socket goes too: a peer that never reads on would hold it open
          close: () => res.end(() => res.socket?.destroy()),
        }
        const last = req.headers['last-event-id']
        let closed = false
        res.on('error', () => {})
        req.raw.once('close', () => {
          closed = true
          hub.disconnect(client)
        })
        await hub.connect(client, typeof last === 'string' ? last : undefined)
        // the browser may have left while the first frame was being prepared
        if (closed) hub.disconnect(client)
      },
    )
  }
}
