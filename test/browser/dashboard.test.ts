/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core) against a running
 * `vigil demo` on a fast clock: the login gate, every page with live data and no console error,
 * the alerts, autoscaling and journeys pages (an alert acknowledged and a silence made in the page,
 * a trace waterfall, a what-if, a trace the client abandoned marked so in the list and its
 * waterfall), a tier edit that changes the limit the gateway applies (counted in 429s), tiers and
 * keys changed through the API showing in the page (a stale save refused, not written over them),
 * a remembered login across a reload, a refused feed's reason on the login page, a login link in an
 * open tab, links to a series or page that does not exist, the what-if form offering per route only
 * the services its traced journeys reach, the 800 px layout, a rolling restart's
 * progress, defensive mode from the UI, config reload, and the live feed surviving a restart of Vigil.
 * Screenshots of every page go to test/browser/out/ (git-ignored).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromiumAvailable, openBrowser, simulateWhatIf, type Browser } from '../helpers/browser.js'
import { ensureBuilt, ensureUiBuilt } from '../helpers/build.js'
import { fastDemoConfig, startDemo, type RunningDemo } from '../helpers/demo.js'

const OUT = fileURLToPath(new URL('./out/', import.meta.url))
const TOKEN = `browser-${process.pid}-token`
const available = chromiumAvailable()
const ACK_RULE = 'browser-ack'

function demoArgs(config: string, adminPort = '0'): string[] {
  return [
    ...['--config', config, '--gateway-port', '0', '--admin-port', adminPort, '--mock-port-base', '0'],
    ...['--rps', '20', '--first-incident', '8s', '--incident-every', '15s', '--incident-for', '5s'],
    ...['--abuse-rps', '15', '--status-every', '2s'],
  ]
}

/** `n` requests at once with an API key; how many were refused with 429. */
async function refused(gateway: string, key: string, n: number): Promise<number> {
  const codes = await Promise.all(
    Array.from({ length: n }, () =>
      fetch(`${gateway}/api/test`, { headers: { 'x-api-key': key } }).then(async (r) => {
        await r.arrayBuffer()
        return r.status
      }),
    ),
  )
  return codes.filter((c) => c === 429).length
}

describe.skipIf(!available)('the dashboard in a browser, on a running demo', { timeout: 120_000 }, () => {
  let demo: RunningDemo
  let browser: Browser
  let config: string

  beforeAll(async () => {
    ensureBuilt()
    ensureUiBuilt()
    mkdirSync(OUT, { recursive: true })
    // a rule that fires at once, so the acknowledgement is tested without waiting for an incident
    config = fastDemoConfig()
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace(
        /\n {2}rules:\n/,
        `\n  rules:\n    - { name: ${ACK_RULE}, kind: latency, quantile: p95, threshold: 1, minRequests: 1, for: 1 window, match: { service: shop } }\n`,
      ),
    )
    demo = await startDemo(demoArgs(config), TOKEN)
    browser = await openBrowser()
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await demo?.stop()
  })

  const shot = (name: string) => browser.page.screenshot({ path: `${OUT}${name}.png`, fullPage: true })

  it('a wrong token gets the login page with the server message, never data', async () => {
    const { page } = browser
    await page.goto(`${demo.adminUrl}/#token=not-the-token`)
    await page.getByText('Login refused').waitFor()
    expect(await page.getByText(/missing or wrong bearer token/).count()).toBe(1)
    expect(await page.locator('#kpi-rate').count()).toBe(0)
    // an empty field is refused before anything is sent
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByText('Enter the admin token').waitFor()
    await shot('login')
    const live = await fetch(`${demo.adminUrl}/api/live`, { headers: { authorization: 'Bearer nope' } })
    expect(live.status).toBe(401)
    browser.errors.length = 0 // the refused session is a 401 in the console, as it should be
  })

  it('renders every page with live data and no console error', async () => {
    const { page } = browser
    await page.getByLabel('Admin token').fill(TOKEN)
    await page.getByRole('button', { name: 'Log in' }).click()
    // overview: the global rate from the live feed, services with health
    await page.locator('#kpi-rate .v', { hasText: /\d req\/s/ }).waitFor({ timeout: 30_000 })
    await page.getByRole('row', { name: /payments demo/ }).waitFor()
    await page.locator('.chart canvas').first().waitFor()
    // a minute-old demo is still learning: the anomalies panel says when detection starts, not "none open"
    await page
      .getByText(/^Learning (the traffic|\d+ new of \d+ series): detection (on them )?starts in/)
      .waitFor()
    await shot('overview')
    // at 1366 px the summary cards fill one row: none left alone on a second
    expect(
      await page.evaluate(
        `new Set([...document.querySelectorAll('.cards .card')].map((c) => Math.round(c.getBoundingClientRect().top))).size`,
      ),
    ).toBe(1)

    // the services page without a series: every service with its routes under it, with figures
    await page.getByRole('link', { name: 'Services', exact: true }).click()
    const browse = page.getByRole('row', { name: /^browse / })
    await browse.waitFor()
    // (a latency with its unit: ms, or s once an incident or a loaded machine passes a second)
    expect(await browse.innerText()).toMatch(/req\/s[\s\S]*\d m?s\b/)
    expect(await page.getByRole('row').first().innerText()).toMatch(/Series\s+Requests\s+5xx\s+Throttled/)
    const names = await page.locator('tbody th').allInnerTexts()
    expect(names.indexOf('browse')).toBe(names.indexOf('shop · demo') + 1)

    // a series whose first window has not closed: the page waits for it instead of asking (a 404)
    await page.goto(`${demo.adminUrl}/#/series/${encodeURIComponent('payments|not-yet|demo')}`)
    await page.getByText(/No window of this series has closed yet/).waitFor()
    await page.waitForTimeout(1_500)
    expect(browser.errors).toEqual([])

    // a service with its charts, then a route with its forecast
    await page.goto(`${demo.adminUrl}/#/series/${encodeURIComponent('payments|*|demo')}`)
    await page.getByRole('heading', { name: 'payments · demo' }).waitFor()
    await page.locator('.chart canvas').nth(2).waitFor({ timeout: 20_000 })
    await shot('service')
    // the busiest route: a sparse one may lack the history a forecast needs at the day's trough
    await page.goto(`${demo.adminUrl}/#/series/${encodeURIComponent('shop|browse|demo')}`)
    await page.getByText(/^Model /).waitFor({ timeout: 30_000 })
    await shot('route')
    // the global series in words, not "*"
    await page.goto(`${demo.adminUrl}/#/series/${encodeURIComponent('*|*|*')}`)
    await page.getByRole('heading', { name: 'All services', exact: true }).waitFor()
    await page.getByRole('navigation', { name: 'Series of this service' }).getByText('all services').waitFor()
    // a hand-typed link that is no series key, and a page that does not exist, say so
    await page.goto(`${demo.adminUrl}/#/series/payments`)
    await page.getByText(/"payments" is not a series key/).waitFor()
    await page.getByRole('link', { name: 'payments · demo' }).waitFor()
    expect(await page.locator('main').innerText()).not.toMatch(/undefined/)
    await page.goto(`${demo.adminUrl}/#/nosuch`)
    await page.getByRole('heading', { name: 'No such page' }).waitFor()
    expect(await page.locator('#kpi-rate').count()).toBe(0)

    await page.getByRole('link', { name: 'Rate limits' }).click()
    await page.getByRole('heading', { name: 'Heaviest clients' }).waitFor()
    // the service's 5xx/429 answers are not the verdict's own-doing share: each says what it counts
    await page.getByRole('columnheader', { name: '5xx/429 answers' }).waitFor()
    expect(await page.getByRole('columnheader', { name: 'Errors', exact: true }).count()).toBe(0)
    await page.getByRole('row', { name: /scraper-std/ }).waitFor({ timeout: 30_000 })
    await page.getByRole('row', { name: /^PRM/ }).first().waitFor()
    await shot('limits')
    // a row's name (a 12 px client id, a tier) and its figures sit on one line of text: an empty
    // inline-block's bottom is its cell's baseline
    const offBaseline = (await page.evaluate(`(() => {
      const off = []
      for (const tr of document.querySelectorAll('tbody tr')) {
        const cells = [...tr.querySelectorAll(':scope > th[scope=row], :scope > td.num')]
        if (cells.length < 2) continue
        const bases = cells.map((cell) => {
          const probe = document.createElement('span')
          probe.style.cssText = 'display:inline-block;width:0;height:0'
          cell.append(probe)
          const y = probe.getBoundingClientRect().bottom
          probe.remove()
          return y
        })
        if (Math.max(...bases) - Math.min(...bases) > 1) off.push(tr.innerText.split('\\t')[0])
      }
      return off
    })()`)) as string[]
    expect(offBaseline).toEqual([])

    await page.getByRole('link', { name: 'Admin' }).click()
    await page.getByRole('row', { name: /acme-prm/ }).waitFor()
    await shot('admin')

    await page.getByRole('link', { name: 'Audit' }).click()
    await page.getByRole('heading', { name: /Audit log|Changes since/ }).waitFor()
    await shot('audit')

    // keyboard: the navigation is reachable and works with Enter
    await page.goto(`${demo.adminUrl}/#/overview`)
    await page.getByRole('link', { name: 'Rate limits' }).focus()
    await page.keyboard.press('Enter')
    await page.waitForURL(/#\/limits$/)

    await page.getByRole('button', { name: /Switch to dark theme/ }).click()
    await page.getByRole('link', { name: 'Overview' }).click()
    await page.locator('.chart canvas').first().waitFor()
    expect(await page.evaluate('document.documentElement.dataset.theme')).toBe('dark')
    await shot('overview-dark')
    await page.getByRole('button', { name: /Switch to light theme/ }).click()

    // 800 px: the navigation is a bar on top and the page's colour runs behind the content (the
    // side bar's colour does not); a figure and its unit stay on one line
    await page.setViewportSize({ width: 800, height: 900 })
    try {
      await page.getByRole('row', { name: /payments demo/ }).waitFor()
      // (a string: this file's types have no DOM)
      const narrow = (await page.evaluate(`(() => {
        const layout = getComputedStyle(document.querySelector('.layout'))
        // one line: every piece of the cell's text sits on the same line box
        const oneLine = (td) => {
          const range = document.createRange()
          range.selectNodeContents(td)
          return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size <= 1
        }
        return {
          gradient: layout.backgroundImage,
          background: layout.backgroundColor,
          page: getComputedStyle(document.body).backgroundColor,
          wrapped: [...document.querySelectorAll('table td.num')]
            .filter((td) => td.children.length === 0 && td.innerText.trim() !== '' && !oneLine(td))
            .map((td) => td.innerText),
        }
      })()`)) as { gradient: string; background: string; page: string; wrapped: string[] }
      expect(narrow).toEqual({ gradient: 'none', background: narrow.page, page: narrow.page, wrapped: [] })
      await shot('overview-800')
    } finally {
      await page.setViewportSize({ width: 1366, height: 900 })
    }
    expect(browser.errors).toEqual([])
  })

  it('"Remember on this browser" survives a reload; a live feed that refuses the session says why on the login page', async () => {
    const { page } = browser
    await page.getByRole('button', { name: 'Log out' }).click()
    await page.getByLabel('Admin token').fill(TOKEN)
    await page.getByLabel('Remember on this browser').check()
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.locator('#kpi-rate').waitFor()
    await page.reload()
    await page.locator('#kpi-rate').waitFor()
    // another tab of the same browser is logged in too
    const other = await browser.context.newPage()
    try {
      await other.goto(demo.adminUrl)
      await other.locator('#kpi-rate').waitFor()
    } finally {
      await other.close()
    }
    // the token stops working (Vigil restarted with another one): the feed's 401 says so
    await page.route('**/api/live', (route) =>
      route.fulfill({
        status: 401,
        contentType: 'application/problem+json',
        body: JSON.stringify({
          code: 'VGL_ERR_API_UNAUTHORIZED',
          message: 'missing or wrong bearer token for GET /api/live',
        }),
      }),
    )
    try {
      await page.reload()
      await page
        .getByText('Your session was refused (missing or wrong bearer token for GET /api/live)')
        .waitFor()
      expect(await page.evaluate("localStorage.getItem('vigil.token')")).toBeNull()
    } finally {
      await page.unroute('**/api/live')
    }
    // the refusal is a 401 in the console, as it should be
    expect(browser.errors.filter((e) => !/status of 401/.test(e))).toEqual([])
    browser.errors.length = 0
    await page.getByLabel('Admin token').fill(TOKEN)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.locator('#kpi-rate').waitFor()
    // a login link opened in this tab (no page load): checked, taken out of the address bar, the overview
    await page.getByRole('link', { name: 'Rate limits' }).click()
    await page.goto(`${demo.adminUrl}/#token=${TOKEN}`)
    await page.locator('#kpi-rate').waitFor()
    await page.waitForURL((u) => !u.href.includes(TOKEN))
  })

  it('alerts, autoscaling and journeys show live data; an alert acknowledged in the UI reads as acknowledged through the API', async () => {
    const { page } = browser
    type AlertJson = { fingerprint: string; rule: string; state: string; ack: { by: string } | null }
    const firing = async (): Promise<AlertJson | undefined> => {
      const r = await fetch(`${demo.adminUrl}/api/alerts?state=firing`)
      return ((await r.json()) as { alerts: AlertJson[] }).alerts.find((a) => a.rule === ACK_RULE)
    }
    // the overview counts it; the alerts page lists it and shows its evidence
    await page.goto(`${demo.adminUrl}/#token=${TOKEN}`)
    await page.locator('#kpi-alerts .v', { hasText: /[1-9]/ }).waitFor({ timeout: 30_000 })
    await page.getByRole('link', { name: 'Alerts', exact: true }).click()
    await page.getByRole('link', { name: ACK_RULE }).first().click()
    await page.locator('#alert-detail .bandline').first().waitFor()
    await page
      .locator('#alert-detail')
      .getByText(/observed .*threshold 1 ms/)
      .first()
      .waitFor()
    await shot('alerts')
    const fp = (await firing())!.fingerprint
    expect(page.url()).toContain(`#/alerts/${fp}`)
    await page.locator('#ack-comment').fill('looking at it')
    await page.getByRole('button', { name: 'Acknowledge' }).click()
    // the form's confirmation lasts until the alert reloads as acknowledged and the form gives way
    // to the acknowledgement itself: a fast reload replaces it before it can be seen, so wait for that
    await page.getByRole('status').filter({ hasText: 'by dashboard' }).first().waitFor()
    const acked = (await (await fetch(`${demo.adminUrl}/api/alerts/${fp}`)).json()) as AlertJson
    expect(acked.ack).toMatchObject({ by: 'dashboard', comment: 'looking at it' })

    // silences: checked in the page first, then the server's message, then one made and ended
    await page.getByRole('button', { name: /Silence alerts like this/ }).click()
    await page.locator('#silence-comment').fill('')
    await page.getByRole('button', { name: 'Create silence' }).click()
    await page.getByText('comment: say why').waitFor()
    await page.locator('#silence-matchers').fill('service=~"("')
    await page.locator('#silence-comment').fill('browser test')
    await page.getByRole('button', { name: 'Create silence' }).click()
    await page.locator('.problem', { hasText: /matcher service/ }).waitFor()
    // the refusal is a 400 in the console, as it should be
    const refusal = browser.errors.findIndex((e) => /status of 400/.test(e))
    if (refusal >= 0) browser.errors.splice(refusal, 1)
    await page.locator('#silence-matchers').fill(`alertname="${ACK_RULE}"`)
    await page.locator('#silence-duration').fill('10m')
    await page.getByRole('button', { name: 'Create silence' }).click()
    await page.getByRole('row', { name: /browser test/ }).waitFor()
    await page
      .getByRole('button', { name: /^End silence/ })
      .first()
      .click()
    await page.getByText(/Silence \S+ ended/).waitFor()

    // autoscaling: replicas with the chart and the events that changed them
    await page.getByRole('link', { name: 'Autoscaling' }).click()
    await page.locator('#scale-users-replicas .v', { hasText: /\d/ }).waitFor()
    await page.getByRole('table', { name: 'Scaling events' }).waitFor({ timeout: 30_000 })
    await page.locator('.chart canvas').first().waitFor({ timeout: 30_000 })
    await shot('autoscaling')
    // manual scale from the Admin page: bounds checked in the page, then through the actuator
    await page.getByRole('link', { name: 'Admin' }).click()
    await page.locator('#scale-replicas').fill('9')
    await page.locator('#scale-reason').fill('browser test')
    await page.getByRole('button', { name: 'Scale', exact: true }).click()
    await page.getByText('replicas: users takes 1 to 4').waitFor()
    await page.locator('#scale-replicas').fill('2')
    await page.getByRole('button', { name: 'Scale', exact: true }).click()
    await page.getByText(/users: scaled to 2 \(ok\)/).waitFor({ timeout: 30_000 })
    // a rolling restart takes a while: the page says it is under way, then that it is done
    await page.locator('#scale-reason').fill('browser test')
    await page.getByRole('button', { name: 'Rolling restart' }).click()
    await page
      .getByRole('status')
      .filter({ hasText: /Restarting users: one replica at a time/ })
      .waitFor()
    await page.getByText('users: restarted, one replica at a time.').waitFor({ timeout: 60_000 })

    // journeys: the map across environments, a trace's waterfall, a what-if with its interval
    await page.getByRole('link', { name: 'Journeys' }).click()
    await page.locator('.service-map .node', { hasText: 'onprem' }).first().waitFor({ timeout: 30_000 })
    await page.locator('.service-map .node', { hasText: 'aws' }).first().waitFor()
    // each edge's label overlaps no other label and no node, as laid out in the page
    type Box = { x: number; y: number; width: number; height: number }
    const boxes = async (sel: string) =>
      Promise.all((await page.locator(sel).all()).map(async (l) => (await l.boundingBox())!))
    const labels = await boxes('.service-map .edge-label')
    const nodes = await boxes('.service-map .node > rect:first-of-type')
    const hit = (a: Box, b: Box) =>
      a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
    const found: string[] = []
    labels.forEach((a, i) => {
      labels.slice(i + 1).forEach((b, j) => hit(a, b) && found.push(`label ${i} on label ${i + 1 + j}`))
      nodes.forEach((n, j) => hit(a, n) && found.push(`label ${i} on node ${j}`))
    })
    const overlaps = { labels: labels.length, found }
    expect(overlaps.labels).toBeGreaterThan(0)
    expect(overlaps.found).toEqual([])
    // and no edge's line is drawn over a label (SVG paints in document order)
    const order = (await page.evaluate(
      `[...document.querySelectorAll('.service-map .edge path, .service-map .edge-label')].map((el) => el.tagName)`,
    )) as string[]
    expect(order.lastIndexOf('path')).toBeLessThan(order.indexOf('text'))
    // the legend explains both error styles an edge can have
    await page.getByText(/dotted: over 1% errors · dashed with ✕: over 5%/).waitFor()
    await page
      .getByRole('row', { name: /browse/ })
      .first()
      .waitFor({ timeout: 30_000 })
    const wide = page.locator('ul[aria-label="Recent traces"] li', { hasText: 'onprem' }).first()
    await wide.waitFor({ timeout: 30_000 })
    await wide.locator('a').click()
    await page.locator('#waterfall .wf-bar').first().waitFor()
    await page.locator('#whatif-kind').selectOption('down')
    await simulateWhatIf(page)
    await page
      .locator('#whatif-result td', { hasText: /\(.+ – .+\)/ })
      .first()
      .waitFor({ timeout: 30_000 })
    await shot('journeys')
    expect(browser.errors).toEqual([])
  })

  it('a trace the client abandoned is marked so in the recent traces and in its waterfall, without its cut-off spans as errors', async () => {
    const { page } = browser
    // clients that leave the shop's journey while it is under way: the gateway answers 499 and
    // closes shop's connection, so shop ends its span as an error without an HTTP status
    let leaving = true
    const leave = (async () => {
      while (leaving) {
        await fetch(`${demo.gatewayUrl}/api/browse`, {
          headers: { 'x-api-key': 'demo-acme-prm-key' },
          signal: AbortSignal.timeout(40),
        }).catch(() => undefined)
        await new Promise((r) => setTimeout(r, 150))
      }
    })()
    try {
      await page.goto(`${demo.adminUrl}/#token=${TOKEN}`)
      await page.getByRole('link', { name: 'Journeys' }).click()
      // the trace view's own count: no "N errors" for the spans the client's departure cut off
      const listed = page.locator('ul[aria-label="Recent traces"] li', {
        hasText: 'abandoned by the client',
        hasNotText: /\d+ errors?\b/,
      })
      await listed.first().waitFor({ timeout: 45_000 })
      await listed.first().locator('a').click()
    } finally {
      leaving = false
      await leave
    }
    await page.locator('#waterfall .wf-bar').first().waitFor()
    await page.locator('#waterfall', { hasText: 'abandoned by the client' }).waitFor()
    // the spans the departure cut off read "client left", never "error"; a span its service
    // answered with a 5xx is a failure (the demo fails some calls by design, and such a span can
    // land after the list was read), so every error row must show its 5xx
    await page.locator('#waterfall tr.aborted').first().waitFor()
    for (const row of await page.locator('#waterfall tr.err').allInnerTexts()) expect(row).toMatch(/· 5\d\d/)
    await shot('journeys-abandoned')
    expect(browser.errors).toEqual([])
  })

  it('a tier edit in the admin page changes the limit the gateway applies', async () => {
    const { page } = browser
    await page.getByRole('link', { name: 'Admin' }).click()
    // a key of our own, so the demo's traffic does not drain its buckets
    await page.locator('#key-new-id').fill(`browser-${process.pid}`)
    await page.locator('#key-new-tier').selectOption('STD')
    await page.getByRole('button', { name: 'Create key' }).click()
    const secret = (await page.locator('.notice .mono').first().textContent())!.trim()
    expect(secret).toMatch(/^vgl_/)
    await page.getByRole('button', { name: 'Done' }).click()

    const before = await refused(demo.gatewayUrl, secret, 12) // STD: burst 8
    // a bad value is refused in the page, before anything is sent
    await page.locator('#tier-STD-rate').fill('-1')
    await page.locator('#tier-STD-save').click()
    await page.getByText('rate per second must be greater than 0').waitFor()

    await page.locator('#tier-STD-rate').fill('0.5')
    await page.locator('#tier-STD-burst').fill('1')
    await page.locator('#tier-STD-save').click()
    await page.getByText('Tier STD saved').waitFor()
    const after = await refused(demo.gatewayUrl, secret, 12)
    expect(before).toBeLessThanOrEqual(5)
    expect(after).toBeGreaterThanOrEqual(10)

    // put it back, so the rest of the demo runs as configured
    await page.locator('#tier-STD-rate').fill('4')
    await page.locator('#tier-STD-burst').fill('8')
    await page.locator('#tier-STD-save').click()
    await page.getByText('Tier STD saved: 4 req/s').waitFor()
    expect(browser.errors).toEqual([])
  })

  it('on a phone (390 px) no page is wider than the screen, and a column of sentences stays readable', async () => {
    const { page } = browser
    await page.setViewportSize({ width: 390, height: 844 })
    try {
      const wide: string[] = []
      for (const name of [
        'Overview',
        'Services',
        'Rate limits',
        'Alerts',
        'Autoscaling',
        'Journeys',
        'Admin',
        'Audit',
      ]) {
        await page.getByRole('link', { name, exact: true }).click()
        await page.locator('main h1').waitFor()
        await page.waitForTimeout(500)
        const [scroll, client] = (await page.evaluate(
          '[document.documentElement.scrollWidth, document.documentElement.clientWidth]',
        )) as [number, number]
        if (scroll > client + 1) wide.push(`${name}: ${scroll} px wide`)
      }
      expect(wide).toEqual([])
      // the Overview's figures two a row, not a screen and a half of cards one under another
      await page.getByRole('link', { name: 'Overview', exact: true }).click()
      await page.locator('#kpi-rate').waitFor()
      const cardRows = (await page.evaluate(
        `new Set([...document.querySelectorAll('.cards .card')].map((c) => Math.round(c.getBoundingClientRect().top))).size`,
      )) as number
      const cards = await page.locator('.cards .card').count()
      expect(cardRows).toBe(Math.ceil(cards / 2))
      // the scaling events' reasons: a readable width (the table scrolls sideways), not a word a line
      await page.getByRole('link', { name: 'Autoscaling' }).click()
      const events = page.getByRole('table', { name: 'Scaling events' })
      await events.waitFor()
      const widths = (await page.evaluate(`(() => {
        const table = document.querySelector('table[aria-label="Scaling events"]')
        const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent)
        return ['Why', 'Evidence'].map((h) => {
          const i = heads.indexOf(h)
          const cells = [...table.querySelectorAll('tbody tr')].map((tr) => tr.children[i])
          return [h, Math.min(...cells.map((td) => td.getBoundingClientRect().width))]
        })
      })()`)) as [string, number][]
      expect(widths.filter(([, w]) => w < 150)).toEqual([])
      await shot('autoscaling-390')
      // the Admin page's forms: every Save, Change tier and Revoke on screen, no sideways scroll
      await page.getByRole('link', { name: 'Admin', exact: true }).click()
      await page.locator('#tier-STD-save').waitFor()
      await page.getByRole('button', { name: 'Revoke' }).first().waitFor()
      const offScreen = (await page.evaluate(`[...document.querySelectorAll('main table button')]
        .map((b) => [b.id || b.textContent, b.getBoundingClientRect().right])
        .filter(([, right]) => right > document.documentElement.clientWidth)
        .map(([name]) => name)`)) as string[]
      expect(offScreen).toEqual([])
      await shot('admin-390')
    } finally {
      await page.setViewportSize({ width: 1366, height: 900 })
      // where the tests after this one start, as the tier edit before it left the page
      await page.getByRole('link', { name: 'Admin' }).click()
    }
  })

  it('tiers and keys changed elsewhere show in the admin page, and a save never overwrites such a change', async () => {
    const { page } = browser
    const putPrm = (ratePerSec: number, burst: number) =>
      fetch(`${demo.adminUrl}/api/limits/tiers/PRM`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ratePerSec, burst, rank: 1, reason: 'browser test' }),
      }).then((r) => expect(r.status).toBe(200))
    const prm = async () =>
      (await (await fetch(`${demo.adminUrl}/api/limits/tiers/PRM`)).json()) as {
        ratePerSec: number
        burst: number
      }
    try {
      await page.locator('#tier-PRM-rate').waitFor()
      // changed through the API (a script, another operator): the row follows and reads its version again
      const reread = page.waitForResponse(
        (r) => r.url().endsWith('/api/limits/tiers/PRM') && r.request().method() === 'GET',
      )
      await putPrm(40, 90)
      await expect.poll(() => page.locator('#tier-PRM-rate').inputValue(), { timeout: 10_000 }).toBe('40')
      expect(await page.locator('#tier-PRM-burst').inputValue()).toBe('90')
      await reread
      // changed again while someone edits the row: the save is refused, not written over it
      await page.locator('#tier-PRM-burst').fill('95')
      await putPrm(45, 90)
      await page.locator('#tier-PRM-save').click()
      await page
        .getByText(/PRM was changed elsewhere while you edited it; it is now 45 req\/s, burst 90/)
        .waitFor()
      expect(await prm()).toMatchObject({ ratePerSec: 45, burst: 90 })
      expect(await page.locator('#tier-PRM-rate').inputValue()).toBe('45')
      // the refusal is a 412 in the console, as it should be
      const refusal = browser.errors.findIndex((e) => /status of 412/.test(e))
      if (refusal >= 0) browser.errors.splice(refusal, 1)
      // "Add" never replaces a tier that exists
      await page.getByLabel('New tier name').fill('PRM')
      await page.locator('#tier-new-save').click()
      await page.getByText('tier PRM exists already: change it in its row above').waitFor()
      expect(await prm()).toMatchObject({ ratePerSec: 45, burst: 90 })
      await page.getByLabel('New tier name').fill('')
    } finally {
      await putPrm(50, 100)
    }
    await expect.poll(() => page.locator('#tier-PRM-rate').inputValue(), { timeout: 10_000 }).toBe('50')

    // a key created through the API shows up without reloading the page
    const id = `api-${process.pid}`
    const created = await fetch(`${demo.adminUrl}/api/limits/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, tier: 'STD' }),
    })
    expect(created.status).toBe(201)
    await page.getByRole('row', { name: new RegExp(id) }).waitFor({ timeout: 15_000 })
    expect(browser.errors).toEqual([])
  })

  it('defensive mode toggled in the UI shows in /api/limits/controls; config reload answers', async () => {
    const { page } = browser
    const controls = async () =>
      ((await (await fetch(`${demo.adminUrl}/api/limits/controls`)).json()) as { defensive: boolean })
        .defensive
    expect(await controls()).toBe(false)
    await page.locator('#defensive-reason').fill('browser test')
    await page.locator('#defensive-toggle').click()
    await page.getByText('Defensive mode is on.').waitFor()
    expect(await controls()).toBe(true)
    await page.getByRole('link', { name: 'Overview' }).click()
    await page.locator('#kpi-defensive .v', { hasText: 'ON' }).waitFor()
    await page.getByRole('link', { name: 'Admin' }).click()
    // another writer (as an adaptive policy does) changes the controls after the page's last write:
    // turning defensive mode off still works, and leaves that writer's multiplier in place
    const other = async (m: number | null) =>
      expect(
        (
          await fetch(`${demo.adminUrl}/api/limits/controls`, {
            method: 'PUT',
            headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ tiers: { STD: m }, reason: 'another writer' }),
          })
        ).status,
      ).toBe(200)
    await other(0.5)
    try {
      await page.locator('#defensive-toggle').click()
      await page.getByText('Defensive mode is off.').waitFor()
      expect(await controls()).toBe(false)
      const now = (await (await fetch(`${demo.adminUrl}/api/limits/controls`)).json()) as {
        tiers: Record<string, number>
      }
      expect(now.tiers.STD).toBe(0.5)
    } finally {
      await other(null)
    }

    // defensive mode on one service only (as the anomaly-pressure policy sets it) reads as on,
    // for that service, on the overview and the rate limits page, not as "off"
    const scoped = async (on: boolean) =>
      expect(
        (
          await fetch(`${demo.adminUrl}/api/limits/controls`, {
            method: 'PUT',
            headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              defensive: on,
              service: 'payments',
              reason: 'browser test: payments only',
            }),
          })
        ).status,
      ).toBe(200)
    // then a client limited for another reason (as the abusive-clients policy does): the page says
    // why defensive mode is on, not why the client was limited
    const client = async (m: number | null) =>
      expect(
        (
          await fetch(`${demo.adminUrl}/api/limits/controls`, {
            method: 'PUT',
            headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
            body: JSON.stringify({ clients: { 'web-std': m }, reason: 'another writer: a client' }),
          })
        ).status,
      ).toBe(200)
    await scoped(true)
    await client(0.5)
    try {
      await page.getByRole('link', { name: 'Overview' }).click()
      await page.locator('#kpi-defensive', { hasText: 'payments only' }).waitFor()
      expect(await page.locator('#kpi-defensive .v').innerText()).toBe('ON')
      await page.getByRole('link', { name: 'Rate limits' }).click()
      await page.getByText('defensive mode ON for payments').waitFor()
      expect(await page.locator('#controls-why').innerText()).toBe('browser test: payments only')
      // and the Admin page's switch, the global one, does not say "off" meanwhile
      await page.getByRole('link', { name: 'Admin' }).click()
      await page.locator('.badge', { hasText: 'ON for payments' }).waitFor()
      expect(await page.locator('#defensive-scoped').innerText()).toMatch(
        /^On for payments only, set by .+ \(browser test: payments only\)\./,
      )
    } finally {
      await client(null)
      await scoped(false)
    }
    await page.getByRole('link', { name: 'Admin' }).click()

    await page.locator('#config-reload').click()
    // the demo config file is unchanged: nothing changed, nothing waits for a restart
    await page.getByText(/Config reloaded: 3 routes, 0 fields changed\.$/).waitFor()
    await page.getByRole('link', { name: 'Audit' }).click()
    await page
      .getByText(/defensive|controls/)
      .first()
      .waitFor()
    // a date and the changed fields, not "Invalid Date" and the resource's JSON
    const audit = await page.locator('#audit-table').innerText()
    expect(audit).toMatch(/defensive: false → true/)
    expect(audit, audit).not.toMatch(/Invalid Date|\{"/)
    expect(browser.errors).toEqual([])
  })

  it(
    'offers for each route only the services its traced journeys reach, and says when every user seen is affected',
    { timeout: 150_000 },
    async () => {
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
    },
  )

  it('the live feed survives a restart of Vigil and shows live data again', async () => {
    const { page } = browser
    await page.getByRole('link', { name: 'Overview' }).click()
    await page.locator('.conn', { hasText: 'live' }).waitFor()
    const port = new URL(demo.adminUrl).port
    expect(await demo.stop()).toBe(0)
    await page.locator('.conn', { hasText: /reconnecting|offline/ }).waitFor({ timeout: 60_000 })
    demo = await startDemo(demoArgs(config, port), TOKEN)
    expect(new URL(demo.adminUrl).port).toBe(port)
    await page.locator('.conn', { hasText: /^live$/ }).waitFor({ timeout: 40_000 })
    // a fresh process: the snapshot replaced the old state and new windows arrive
    await page.locator('#kpi-rate .v', { hasText: /\d req\/s/ }).waitFor({ timeout: 30_000 })
    expect(await page.locator('#kpi-rate').count()).toBe(1)
    // connection refusals while Vigil was down are the browser's, not the page's
    expect(browser.errors.filter((e) => !/ERR_CONNECTION_REFUSED|Failed to load resource/.test(e))).toEqual(
      [],
    )
  })
})
