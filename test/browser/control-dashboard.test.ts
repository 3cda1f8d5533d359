/**
 * The dashboard served by `vigil control` (scaled out, over real NATS and PostgreSQL), in a real
 * browser (Debian's Chromium through playwright-core): that process reads its config once, so
 * the session leaves out the `reload` feature and the Admin page offers no Reload button, saying
 * why instead. (The embedded dashboard's button is in dashboard.test.ts.) Screenshots go to
 * test/browser/out/ (git-ignored).
 */
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumAvailable, openBrowser, type Browser } from '../helpers/browser.js'
import { ensureUiBuilt } from '../helpers/build.js'
import { serviceAvailable } from '../helpers/services.js'
import { scaledOut, stop } from '../integration/control-support.js'

const OUT = fileURLToPath(new URL('./out/', import.meta.url))
const TOKEN = `control-ui-${process.pid}-token`
const up = chromiumAvailable() && (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))

describe.skipIf(!up)("vigil control's dashboard", { timeout: 90_000 }, () => {
  const w = scaledOut({ name: 'controlui', env: { VIGIL_ADMIN_TOKEN: TOKEN } })
  let browser: Browser

  beforeAll(async () => {
    ensureUiBuilt()
    mkdirSync(OUT, { recursive: true })
    browser = await openBrowser({ width: 1280, height: 900 })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
  })

  it('offers no Reload button where the API cannot reload, and says to restart instead', async () => {
    const control = await w.startControl()
    try {
      const session = (await (
        await fetch(`${control.url}/api/session`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).json()) as { mode: string; features: string[] }
      expect(session.mode).toBe('control')
      expect(session.features).toContain('series')
      expect(session.features).not.toContain('reload')

      const { page } = browser
      await page.goto(`${control.url}/#token=${TOKEN}`)
      await page.getByRole('link', { name: 'Admin', exact: true }).click()
      const why = page.locator('#config-no-reload')
      await why.waitFor({ timeout: 20_000 })
      expect(await why.innerText()).toMatch(
        /^vigil control reads its config file once, at start: to apply a change, restart it\./,
      )
      expect(await page.locator('#config-reload').count()).toBe(0)
      expect(await page.getByRole('button', { name: /reload/i }).count()).toBe(0)
      await page.screenshot({ path: `${OUT}control-admin.png`, fullPage: true })
      expect(browser.errors).toEqual([])
    } finally {
      await stop(control)
    }
  })
})
