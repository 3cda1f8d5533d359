/**
 * What the dashboard shows for what it does not have yet, in a real browser (Debian's Chromium
 * through playwright-core) against `vigil start` on a fast clock: a chart's legend lists only the
 * lines it draws, and names a forecast still learning as such, with how much more data it needs.
 * Screenshots go to test/browser/out/ (git-ignored).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { chromiumAvailable, openBrowser, type Browser } from '../helpers/browser.js'
import { ensureBuilt, ensureUiBuilt } from '../helpers/build.js'

const OUT = fileURLToPath(new URL('./out/', import.meta.url))
const TOKEN = `missing-${process.pid}-token`
const available = chromiumAvailable()

/** The legend of each chart on the page: its entries' words, and whether each has a swatch (is drawn). */
function legends(browser: Browser): Promise<Array<{ title: string; entries: string[]; drawn: string[] }>> {
  return browser.page.evaluate(`[...document.querySelectorAll('figure.chart-fig')].map((fig) => ({
    title: fig.querySelector('h3').textContent,
    entries: [...fig.querySelectorAll('.legend > span')].map((s) => s.textContent.trim()),
    drawn: [...fig.querySelectorAll('.legend > span')].filter((s) => s.querySelector('i') !== null).map((s) => s.textContent.trim()),
  }))`) as Promise<Array<{ title: string; entries: string[]; drawn: string[] }>>
}

describe.skipIf(!available)('a forecast still learning, in a browser', { timeout: 90_000 }, () => {
  let dir: string
  let vigil: Vigil | null = null
  let mock: MockService
  let browser: Browser
  let traffic: NodeJS.Timeout | undefined

  beforeAll(async () => {
    ensureBuilt()
    ensureUiBuilt()
    mkdirSync(OUT, { recursive: true })
    dir = mkdtempSync(join(tmpdir(), 'vigil-missing-'))
    mock = await startMockService({ name: 'users', latencyMs: '1-5' })
    const config = join(dir, 'vigil.yaml')
    writeFileSync(
      config,
      [
        'env: demo',
        'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
        'admin: { host: 127.0.0.1, port: 0 }',
        // shadow mode, no actuator: the page shows the policy's view, nothing is started
        `services: { users: { targets: [${mock.url}], scale: { min: 1, max: 4, capacityPerReplica: 5 } } }`,
        'routes: [ { name: api, path: /api, service: users } ]',
        'telemetry: { windowMs: 500, otlp: { enabled: false } }',
        `store: { kind: sqlite, path: ${JSON.stringify(join(dir, 'vigil.db'))} }`,
        // 240 windows of 0.5 s: a forecast needs two minutes of history, which this test never has
        'forecast: { minHistory: 240 }',
        '',
      ].join('\n'),
    )
    vigil = await startVigil({
      configFile: config,
      mode: 'embedded',
      env: { ...process.env, VIGIL_ADMIN_TOKEN: TOKEN },
      logger: pino({ level: 'silent' }),
      handleSignals: false,
    })
    const gw = vigil.gatewayUrl
    traffic = setInterval(() => {
      for (let i = 0; i < 4; i++)
        void fetch(`${gw}/api/x`)
          .then((r) => r.arrayBuffer())
          .catch(() => {})
    }, 100)
    browser = await openBrowser({ width: 1280, height: 900 })
  }, 120_000)

  afterAll(async () => {
    clearInterval(traffic)
    await browser?.close()
    await vigil?.stop()
    await mock?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("the autoscaling chart's legend lists the lines it draws, and the forecast as not yet with the data it needs", async () => {
    const { page } = browser
    await page.goto(`${vigil!.adminUrl}/#token=${TOKEN}`)
    await page.locator('#kpi-rate .v', { hasText: /\d req\/s/ }).waitFor({ timeout: 30_000 })
    await page.getByRole('link', { name: 'Autoscaling', exact: true }).click()
    const chart = page.locator('figure.chart-fig', { hasText: 'replicas (right)' })
    await chart.locator('canvas').waitFor({ timeout: 30_000 })
    await chart.getByText(/^forecast: not yet/).waitFor({ timeout: 15_000 })
    const [scaling] = await legends(browser)
    await page.screenshot({ path: `${OUT}missing-forecast-scaling.png`, fullPage: true })
    expect(scaling.drawn).toEqual(['observed', 'capacity', 'replicas'])
    expect(scaling.entries).toHaveLength(4)
    // 240 windows of 0.5 s less the few seconds seen: one or two minutes more
    expect(scaling.entries[1]).toMatch(/^forecast: not yet, needs [12] more minutes? of data$/)
    // no band of an interval that is not there
    expect(scaling.entries.join(' ')).not.toMatch(/interval/)
    expect(browser.errors).toEqual([])
  })

  it("the Overview's traffic chart says the same of its forecast", async () => {
    const { page } = browser
    await page.getByRole('link', { name: 'Overview', exact: true }).click()
    const chart = page.locator('figure.chart-fig').first()
    await chart.getByText(/^forecast: not yet, needs/).waitFor({ timeout: 15_000 })
    const [traffic] = await legends(browser)
    expect(traffic.drawn).toEqual(['observed'])
    expect(traffic.entries[1]).toMatch(/^forecast: not yet, needs [12] more minutes? of data$/)
    expect(browser.errors).toEqual([])
  })
})
