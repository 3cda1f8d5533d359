/**
 * The what-if form and the anomaly labels in a real browser (Debian's Chromium through
 * playwright-core) against a running `vigil demo` on a fast clock: the form offers, for each
 * route, only the services its traced journeys reach (as `GET /api/journeys` lists them), the
 * users-affected figure says when it is every user seen, and the anomaly labels of a chart never
 * overlap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumAvailable, openBrowser, simulateWhatIf, type Browser } from '../helpers/browser.js'
import { ensureBuilt, ensureUiBuilt } from '../helpers/build.js'
import { fastDemoConfig, startDemo, type RunningDemo } from '../helpers/demo.js'

const TOKEN = `browser-whatif-${process.pid}`
const available = chromiumAvailable()

interface Box {
  x: number
  y: number
  width: number
  height: number
}

const overlap = (a: Box, b: Box) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height

describe.skipIf(!available)(
  'the what-if form and chart labels, on a running demo',
  { timeout: 150_000 },
  () => {
    let demo: RunningDemo
    let browser: Browser

    beforeAll(async () => {
      ensureBuilt()
      ensureUiBuilt()
      demo = await startDemo(
        [
          ...[
            '--config',
            fastDemoConfig(),
            '--gateway-port',
            '0',
            '--admin-port',
            '0',
            '--mock-port-base',
            '0',
          ],
          ...['--rps', '20', '--first-incident', '8s', '--incident-every', '10s', '--incident-for', '5s'],
          ...['--abuse-rps', '0', '--status-every', '2s'],
        ],
        TOKEN,
      )
      browser = await openBrowser()
    }, 180_000)

    afterAll(async () => {
      await browser?.close()
      await demo?.stop()
    })

    it('offers for each route only the services its traced journeys reach, and says when every user seen is affected', async () => {
      const { page } = browser
      await page.goto(`${demo.adminUrl}/#token=${TOKEN}`)
      // logged in once the overview shows live data (a click before that is undone by the login)
      await page.locator('#kpi-rate .v', { hasText: /\d req\/s/ }).waitFor({ timeout: 30_000 })
      await page.getByRole('link', { name: 'Journeys' }).click()
      await page
        .locator('#whatif-route option', { hasText: 'browse' })
        .waitFor({ state: 'attached', timeout: 40_000 })
      // the shop's journey reaches its services in three envs: wait until each has been traced
      type Listed = { route: string; services: { service: string; env: string }[] }
      let listed: Listed[] = []
      for (let i = 0; i < 30; i++) {
        const r = await fetch(`${demo.adminUrl}/api/journeys?window=5m`)
        listed = ((await r.json()) as { journeys: Listed[] }).journeys
        if ((listed.find((j) => j.route === 'browse')?.services.length ?? 0) >= 5) break
        await page.waitForTimeout(1000)
      }
      const ids = (j: Listed) => j.services.map((s) => `${s.service}|${s.env}`)
      const browse = listed.find((j) => j.route === 'browse')!
      expect(ids(browse)).toEqual(
        expect.arrayContaining([
          'shop|onprem',
          'auth|onprem',
          'inventory|onprem',
          'pricing|aws',
          'reviews|gcp',
        ]),
      )
      for (const j of listed.filter((x) => ['browse', 'test', 'payment-gateway'].includes(x.route))) {
        await page.locator('#whatif-route').selectOption(j.route)
        // the page polls the list every 10 s: what it offers may trail the answer above by one poll
        await expect
          .poll(
            async () =>
              page
                .locator('#whatif-service option')
                .evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value)),
            { timeout: 15_000 },
          )
          .toEqual(expect.arrayContaining(ids(j)))
        const offered = await page
          .locator('#whatif-service option')
          .evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value))
        // never a service of another route's journey
        const others = listed.filter((x) => x.route !== j.route).flatMap(ids)
        expect(offered.filter((id) => !ids(j).includes(id) && others.includes(id))).toEqual([])
      }
      await page.locator('#whatif-route').selectOption('test')
      expect(
        await page
          .locator('#whatif-service option')
          .evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value)),
      ).not.toContain('pricing|aws')

      // pricing down for 10 minutes: every client sends the shop hundreds of requests in that time
      await page.locator('#whatif-route').selectOption('browse')
      await page.locator('#whatif-service').selectOption('pricing|aws')
      await page.locator('#whatif-kind').selectOption('down')
      await simulateWhatIf(page)
      const users = page.getByRole('row', { name: /Users affected/ })
      await expect.poll(() => users.innerText(), { timeout: 30_000 }).toMatch(/all \d+ users seen/)
      await expect
        .poll(() => page.locator('#whatif-users-note').innerText())
        .toMatch(/each sends on average about [\d,]+ requests to browse over the horizon/)
      expect(browser.errors).toEqual([])
    })

    it('lays anomaly labels out so that none overlaps another', { timeout: 330_000 }, async () => {
      const { page } = browser
      // once the detectors have learned (a few minutes), an incident every 10 s: the series with
      // the most anomalies (its page shows the resolved ones too). Crowded layouts are the unit
      // test's (mark-labels.test.ts); here the labels are real elements, in the plot, apart.
      let key = ''
      await expect
        .poll(
          async () => {
            const r = await fetch(`${demo.adminUrl}/api/anomalies?state=all`)
            const counts = new Map<string, number>()
            for (const a of ((await r.json()) as { anomalies: { key: string }[] }).anomalies)
              counts.set(a.key, (counts.get(a.key) ?? 0) + 1)
            const best = [...counts].sort((x, y) => y[1] - x[1])[0]
            key = best?.[0] ?? ''
            return best?.[1] ?? 0
          },
          { timeout: 300_000, interval: 3000 },
        )
        .toBeGreaterThanOrEqual(1)
      await page.goto(`${demo.adminUrl}/#/series/${encodeURIComponent(key)}`)
      const labelsOf = () =>
        page.locator('.chart').evaluateAll((charts) =>
          charts.map((c) =>
            [...c.querySelectorAll('.mark-label')].map((l) => {
              const r = l.getBoundingClientRect()
              return {
                x: r.x,
                y: r.y,
                width: r.width,
                height: r.height,
                title: (l as unknown as { title: string }).title,
              }
            }),
          ),
        )
      await expect
        .poll(async () => Math.max(0, ...(await labelsOf()).map((c) => c.length)), { timeout: 30_000 })
        .toBeGreaterThanOrEqual(1)
      for (const labels of await labelsOf()) {
        for (let i = 0; i < labels.length; i++)
          for (let k = i + 1; k < labels.length; k++)
            expect(overlap(labels[i], labels[k]), JSON.stringify([labels[i], labels[k]])).toBe(false)
        // each label names on hover the anomalies it stands for, with their times
        for (const l of labels) expect(l.title).toMatch(/^\S+: .+ – .+/)
      }
      expect(browser.errors).toEqual([])
    })
  },
)
