/**
 * Two `vigil control` processes over real NATS and PostgreSQL: what each one's admin API answers,
 * as docs/alerts.md ("What runs where") and docs/admin-api.md describe it. The follower serves the
 * store-backed routes (its series with their newest stored window, which its dashboard shows,
 * anomalies as unavailable) and refuses live state with 503 naming the leader's admin API; neither
 * reloads its config, and both say so with 501 rather than a 422 about a file that is fine.
 */
import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { chromiumAvailable, openBrowser } from '../helpers/browser.js'
import { ensureUiBuilt } from '../helpers/build.js'
import { serviceAvailable } from '../helpers/services.js'
import { poll, READY, scaledOut, send, stop } from './control-support.js'

const up = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))
// the limits in Redis, as deploy/config has them: the control plane's dashboard then has a Rate limits page
const redisUp = await serviceAvailable('redis')
const LIMITS = {
  enabled: true,
  store: 'redis',
  redis: { url: 'redis://127.0.0.1:6379', keyPrefix: `vigil-it-${randomUUID()}:` },
}
const TOKEN = 'control-followers-token'
const KEY = encodeURIComponent('orders|*|test-env')

describe.skipIf(!up)('scaled out: the admin API of a leader and of a follower', () => {
  const w = scaledOut({
    name: 'followers',
    env: { VIGIL_ADMIN_TOKEN: TOKEN },
    config: (id) => (redisUp && id === 'control' ? { limits: LIMITS } : {}),
  })

  it(
    'the follower serves stored state and answers live state with 503 naming the leader; neither reloads',
    { timeout: 120_000 },
    async () => {
      const first = await w.startControl()
      const leading = async (url: string) =>
        ((await (await fetch(`${url}/api/control/leader`)).json()) as { leading: boolean }).leading
      await poll(() => leading(first.url), Boolean, 'the first control plane leads', 30_000)
      const second = await w.startControl()
      expect(await leading(second.url)).toBe(false)
      const { leader } = (await (await fetch(`${first.url}/api/control/leader`)).json()) as {
        leader: { holder: string }
      }
      expect(second.log()).toContain(
        `"msg":"standing by: the leader is ${leader.holder} (admin API at ${first.url}); this control plane acts once it wins the lease"`,
      )
      const get = async (url: string, path: string) => {
        const r = await fetch(`${url}${path}`)
        return { status: r.status, body: (await r.json()) as { code?: string; message?: string } }
      }
      for (const path of ['/api/series', '/api/actions', '/api/audit', '/api/alerts'])
        expect((await get(second.url, path)).status, path).toBe(200)
      for (const path of [
        '/api/anomalies',
        `/api/series/${KEY}/scores`,
        `/api/series/${KEY}/forecast`,
        '/api/journeys',
      ]) {
        const r = await get(second.url, path)
        expect(r.status, path).toBe(503)
        expect(r.body.code, path).toBe('VGL_ERR_CONTROL_NOT_LEADER')
        expect(r.body.message, path).toContain(first.url)
        expect((await get(first.url, path)).status, `${path} on the leader`).not.toBe(503)
      }
      // the follower's series carry the newest stored window, as the leader's do: without it the
      // follower's dashboard read "waiting for the first window" beside live traffic
      const gw = await w.startGateway('gw-followers')
      const gwAdmin = await gw.waitFor(READY.gatewayAdmin)
      expect((await send(`${gw.url}/orders`, 20)).every((s) => s === 200)).toBe(true)
      type Listed = { series: { key: string; last: { startMs: number; count: number } | null }[] }
      const lastOf = async (url: string) =>
        ((await (await fetch(`${url}/api/series`)).json()) as Listed).series.find(
          (s) => s.key === 'orders|*|test-env',
        )?.last ?? null
      const both = await poll(
        async () => [await lastOf(first.url), await lastOf(second.url)],
        ([led, followed]) => led !== null && JSON.stringify(followed) === JSON.stringify(led),
        "the follower's series show the window the leader wrote",
        30_000,
      )
      expect(both[1]?.count).toBeGreaterThan(0)
      // and its dashboard shows them, with the anomalies it cannot read as such, not as "none"
      if (chromiumAvailable()) {
        ensureUiBuilt()
        const b = await openBrowser({ width: 1280, height: 900 })
        try {
          await b.page.goto(`${second.url}/#token=${TOKEN}`)
          await b.page.getByRole('link', { name: 'Services' }).click()
          const main = b.page.locator('main')
          await main.getByText('unavailable').first().waitFor({ timeout: 15_000 })
          const text = await main.innerText()
          expect(text).toMatch(/orders[^\n]*\n?[^\n]*req\/s/)
          expect(text).not.toMatch(/\bnone\b/)
          // the gateways check the targets: the control plane's overview does not claim there are none
          await b.page.getByRole('link', { name: 'Overview' }).click()
          await main.getByText('unavailable').first().waitFor({ timeout: 15_000 })
          await main.getByText('orders', { exact: true }).first().waitFor({ timeout: 15_000 })
          expect(await main.innerText()).not.toMatch(/no targets|0 targets/)
          // a control plane's limiter decides nothing: the page says where the decisions are counted
          if (redisUp) {
            await b.page.getByRole('link', { name: 'Rate limits' }).click()
            await main.getByText("each gateway's limiter counts its decisions").waitFor({ timeout: 15_000 })
            expect(await main.innerText()).not.toMatch(/No limiter decisions yet|no clients this window/)
          }
          // the journeys are the leader's: one line naming it, no "Loading…" left under a refusal
          await b.page.getByRole('link', { name: 'Journeys' }).click()
          const standby = main.locator('#journeys-standby')
          await standby.waitFor({ timeout: 15_000 })
          expect(await standby.innerText()).toContain(first.url)
          expect(await main.innerText()).not.toMatch(/Loading…|VGL_ERR_CONTROL_NOT_LEADER/)
          // a gateway's own dashboard detects nothing: it says where anomalies are, not "none open"
          await b.page.goto(`${gwAdmin}/#token=${TOKEN}`)
          const card = b.page.locator('#kpi-anomalies')
          await card.getByText('on the control plane').waitFor({ timeout: 15_000 })
          expect(await b.page.locator('main').innerText()).not.toMatch(/none open|Nothing unusual/)
          expect(b.errors.filter((e) => e.startsWith('page:'))).toEqual([])
        } finally {
          await b.close()
        }
      }
      for (const url of [first.url, second.url]) {
        const r = await fetch(`${url}/api/config/reload`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}` },
        })
        expect(r.status).toBe(501)
        expect(await r.json()).toMatchObject({
          code: 'VGL_ERR_API_NO_RELOAD',
          message:
            'POST /api/config/reload: vigil control reads its config file once, at start, and does not reload it',
        })
      }
      await stop(gw, second, first)
    },
  )
})
