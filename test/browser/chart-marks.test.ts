/**
 * Anomaly marks on the dashboard's charts, in a real browser (Debian's Chromium through
 * playwright-core) against `vigil start` on a seeded SQLite store. The history goes in through the
 * store's own write path (gateway rollups merged into route, service and global points) and the
 * anomalies come from the live detector fed those same points, its state handed to Vigil through
 * `detect.statePath` as a restart does: a latency incident (p50, p95, p99) 5 minutes ago and
 * 429s 3 minutes ago, both still open. Checked: every open anomaly of all services and of a
 * service is marked on one of the Overview's charts, and on the charts of a series page; each
 * label sits over the plot, overlaps no other and has its ▼ drawn under it. Also: the sideways
 * scroll cue of a table at 800 px. Screenshots go to test/browser/out/ (git-ignored).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { serialize } from 'node:v8'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { LiveAnomalies, type AnomalyRecord } from '../../src/control/anomalies.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { toSeriesPoint } from '../../src/control/points.js'
import { emptySketch, encodeSketch } from '../../src/store/sketch.js'
import { SqliteStore } from '../../src/store/index.js'
import type { Rollup } from '../../src/telemetry/types.js'
import { keyLabel, METRIC_NAMES } from '../../src/ui/lib/format.js'
import { chromiumAvailable, openBrowser, type Browser } from '../helpers/browser.js'
import { ensureBuilt, ensureUiBuilt } from '../helpers/build.js'

const OUT = fileURLToPath(new URL('./out/', import.meta.url))
const TOKEN = `marks-${process.pid}-token`
const W = 10_000
const WINDOWS = 400
const available = chromiumAvailable()

/** One gateway rollup of `shop|browse|demo`: `count` latencies spread from p0 to p100, `limited` of them 429s. */
function rollup(
  windowStartMs: number,
  count: number,
  scale: number,
  limited: number,
  jitter: number,
): Rollup {
  const sketch = emptySketch()
  for (let k = 0; k < count; k++) {
    const q = (k + 0.5) / count
    sketch.accept(scale * (12 + 20 * q + (q > 0.9 ? 600 * (q - 0.9) : 0) + jitter))
  }
  return {
    gatewayId: 'gw-seed',
    series: { service: 'shop', route: 'browse', env: 'demo' },
    windowStartMs,
    windowMs: W,
    count,
    statusClass: [0, count - limited, 0, limited, 0],
    limited,
    refused: 0,
    refused5xx: 0,
    timeouts: 0,
    connectErrors: 0,
    bytesIn: 100 * count,
    bytesOut: 1000 * count,
    latencySketch: encodeSketch(sketch),
  }
}

/**
 * Writes `WINDOWS` windows ending now into the store and feeds their merged points to the live
 * detector, as the control plane does; returns the anomalies open at the end.
 */
async function seed(db: string, statePath: string): Promise<AnomalyRecord[]> {
  const store = await SqliteStore.open({ path: db })
  const live = new LiveAnomalies({ stepMs: W, startedAtMs: 0 })
  let state = 7
  const rand = () => (state = (state * 16807) % 2147483647) / 2147483647
  const end = Math.floor(Date.now() / W) * W
  try {
    for (let i = WINDOWS; i >= 1; i--) {
      const start = end - i * W
      const ago = i * W
      const count = 100 + Math.round(30 * rand())
      const slow = ago <= 5 * 60_000 ? 5 : 1
      const limited = ago <= 3 * 60_000 ? Math.round(count * 0.5) : 0
      const points = await store.writeWindow([rollup(start, count, slow, limited, 3 * rand())])
      for (const p of points) live.hook(p.series, toSeriesPoint(p), { correction: false })
    }
    await live.flush()
  } finally {
    await store.close()
  }
  writeFileSync(statePath, serialize(live.snapshot()))
  return live.openAnomalies()
}

interface Box {
  left: number
  right: number
  top: number
  bottom: number
}
interface ChartSeen {
  title: string
  plot: Box
  /** the ▼ marks drawn on the canvas: their centres, page px */
  triangles: number[]
  labels: Array<Box & { text: string; title: string }>
}

/** Every chart of the page: its plot area, its ▼ (found in the canvas's pixels) and its labels. */
function chartsOnPage(browser: Browser): Promise<ChartSeen[]> {
  // (a string: this file's types have no DOM)
  return browser.page.evaluate(`(() => {
    const box = (r) => ({ left: r.left, right: r.right, top: r.top, bottom: r.bottom })
    const hex = getComputedStyle(document.documentElement).getPropertyValue('--bad').trim()
    const bad = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16))
    return [...document.querySelectorAll('figure.chart-fig')].map((fig) => {
      const over = fig.querySelector('.u-over').getBoundingClientRect()
      const canvas = fig.querySelector('canvas')
      const c = canvas.getBoundingClientRect()
      const k = canvas.width / c.width
      // a ▼ is drawn from 2 px below the plot's top, 7 px tall: read the row through its middle
      const y = Math.round((over.top - c.top + 5) * k)
      const row = canvas.getContext('2d').getImageData(0, y, canvas.width, 1).data
      const triangles = []
      let from = -1
      for (let x = 0; x <= canvas.width; x++) {
        const on = x < canvas.width && bad.every((v, j) => Math.abs(row[4 * x + j] - v) <= 24) && row[4 * x + 3] > 200
        if (on && from < 0) from = x
        if (!on && from >= 0) {
          triangles.push(c.left + (from + x - 1) / 2 / k)
          from = -1
        }
      }
      return {
        title: fig.querySelector('h3').textContent,
        plot: box(over),
        triangles,
        labels: [...fig.querySelectorAll('.mark-label')].map((l) => ({
          ...box(l.getBoundingClientRect()),
          text: l.textContent,
          title: l.title,
        })),
      }
    })
  })()`) as Promise<ChartSeen[]>
}

/** The marks a label stands for, as its hover text lists them ("p50 latency, all services: 10:01 – 10:13"). */
const marked = (c: ChartSeen): string[] =>
  c.labels.flatMap((l) =>
    l.title.split('\n').map((line) => line.slice(0, line.lastIndexOf(': ', line.indexOf(' – ')))),
  )

/** Labels over the plot, none over another, each with its ▼ drawn at or just left of it. */
function expectLaidOut(c: ChartSeen): void {
  const where = `${c.title}: ${JSON.stringify(c)}`
  expect(c.labels.length, where).toBeGreaterThan(0)
  // marks of one moment share their ▼
  expect(c.triangles.length, where).toBeGreaterThan(0)
  for (const t of c.triangles) {
    expect(t, where).toBeGreaterThanOrEqual(c.plot.left)
    expect(t, where).toBeLessThanOrEqual(c.plot.right)
  }
  c.labels.forEach((l, i) => {
    expect(l.left, where).toBeGreaterThanOrEqual(c.plot.left - 0.5)
    expect(l.right, where).toBeLessThanOrEqual(c.plot.right + 0.5)
    expect(l.top, where).toBeGreaterThanOrEqual(c.plot.top - 0.5)
    expect(l.bottom, where).toBeLessThanOrEqual(c.plot.bottom + 0.5)
    // its ▼: 7 px left of the label, or under its right end when there was no room to the right
    expect(
      c.triangles.some((t) => t >= l.left - 9 && t <= l.right),
      `${l.text} has no ▼ under it; ${where}`,
    ).toBe(true)
    for (const o of c.labels.slice(i + 1)) {
      const apart = l.right <= o.left || o.right <= l.left || l.bottom <= o.top || o.bottom <= l.top
      expect(apart, `"${l.text}" overlaps "${o.text}"; ${where}`).toBe(true)
    }
  })
}

describe.skipIf(!available)(
  'anomaly marks on the dashboard charts, in a browser',
  { timeout: 120_000 },
  () => {
    let dir: string
    let vigil: Vigil | null = null
    let browser: Browser
    let open: AnomalyRecord[]
    let mock: MockService

    beforeAll(async () => {
      ensureBuilt()
      ensureUiBuilt()
      mkdirSync(OUT, { recursive: true })
      dir = mkdtempSync(join(tmpdir(), 'vigil-chart-marks-'))
      const db = join(dir, 'vigil.db')
      const statePath = join(dir, 'detectors.bin')
      open = await seed(db, statePath)
      mock = await startMockService({ name: 'shop' })
      const config = join(dir, 'vigil.yaml')
      writeFileSync(
        config,
        [
          'env: demo',
          'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
          'admin: { host: 127.0.0.1, port: 0 }',
          // no traffic until the last test: the seeded anomalies stay open
          `services: { shop: { targets: [${mock.url}] } }`,
          'routes: [ { name: browse, path: /browse, service: shop } ]',
          `telemetry: { windowMs: ${W}, gatewayId: gw-marks, otlp: { enabled: false } }`,
          `store: { kind: sqlite, path: ${JSON.stringify(db)} }`,
          `detect: { statePath: ${JSON.stringify(statePath)} }`,
          'forecast: { enabled: false }',
          '',
        ].join('\n'),
      )
      vigil = await startVigil({
        configFile: config,
        mode: 'embedded',
        env: { ...process.env, VIGIL_ADMIN_TOKEN: TOKEN },
        logger: pino({ level: 'silent' }),
      })
      browser = await openBrowser({ width: 1280, height: 900 })
    }, 180_000)

    afterAll(async () => {
      await browser?.close()
      await vigil?.stop()
      await mock?.close()
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    })

    // forecasting is off here: no page may ask for a forecast (it would answer 404) or fail otherwise
    const pageErrors = () => browser.errors
    const forecastRequests: string[] = []
    const shot = (name: string) => browser.page.screenshot({ path: `${OUT}${name}.png`, fullPage: true })

    it('the seeded history opened latency and 429 anomalies on all services and on the service', async () => {
      const served = (await (await fetch(`${vigil!.adminUrl}/api/anomalies`)).json()) as {
        anomalies: AnomalyRecord[]
      }
      const ids = (list: readonly AnomalyRecord[]) => list.map((a) => a.id).sort()
      expect(ids(served.anomalies)).toEqual(ids(open))
      const of = (key: string) => open.filter((a) => a.key === key).map((a) => a.metric)
      for (const key of ['*|*|*', 'shop|*|demo'])
        expect(of(key), key).toEqual(expect.arrayContaining(['p50', 'p95', 'p99', 'limitedRatio']))
    })

    it('forecasting off: the session leaves forecasts out, and the API names the setting to an API caller', async () => {
      const auth = { authorization: `Bearer ${TOKEN}` }
      const session = (await (await fetch(`${vigil!.adminUrl}/api/session`, { headers: auth })).json()) as {
        features: string[]
      }
      expect(session.features).toEqual(expect.arrayContaining(['series', 'anomalies']))
      expect(session.features).not.toContain('forecasts')
      const res = await fetch(`${vigil!.adminUrl}/api/series/${encodeURIComponent('*|*|*')}/forecast`, {
        headers: auth,
      })
      expect(res.status).toBe(404)
      expect(await res.json()).toMatchObject({ code: 'VGL_ERR_CONTROL_DISABLED' })
    })

    it("marks every open anomaly of all services and of each service on one of the Overview's charts, laid out readably", async () => {
      const { page } = browser
      page.on('request', (r) => {
        if (/\/forecast(\?|$)/.test(r.url())) forecastRequests.push(r.url())
      })
      await page.goto(`${vigil!.adminUrl}/#token=${TOKEN}`)
      await page
        .locator('figure.chart-fig')
        .nth(2)
        .locator('.mark-label')
        .first()
        .waitFor({ timeout: 30_000 })
      const charts = await chartsOnPage(browser)
      expect(charts.map((c) => c.title)).toEqual([
        'Requests per second',
        'p50 / p95 / p99',
        '5xx and 429 ratio (%)',
      ])
      const shown = charts.flatMap(marked)
      for (const a of open.filter((x) => x.level === 'global' || x.level === 'service'))
        expect(shown, `${a.metric} on ${a.key}`).toContain(`${METRIC_NAMES[a.metric]}, ${keyLabel(a.key)}`)
      // each chart marks what it plots
      expect(marked(charts[1]).every((m) => /^p\d\d latency/.test(m))).toBe(true)
      expect(marked(charts[2]).every((m) => /^(throttled share|5xx errors)/.test(m))).toBe(true)
      for (const c of charts.filter((x) => x.labels.length > 0)) expectLaidOut(c)
      // the traffic chart draws what was observed and says why there is no forecast
      const caption = await page.locator('figure.chart-fig').first().locator('figcaption').innerText()
      expect(caption).toContain('observed')
      expect(caption).toContain('forecasting is off')
      expect(caption.replace('forecasting is off', '')).not.toMatch(/forecast|interval/)
      expect(forecastRequests).toEqual([])
      expect(pageErrors()).toEqual([])
      await shot('marks-overview-1280')
    })

    it("marks a series' anomalies on its latency and errors charts", async () => {
      const { page } = browser
      await page.goto(`${vigil!.adminUrl}/#/series/${encodeURIComponent('shop|*|demo')}`)
      await page.getByRole('heading', { name: 'shop · demo' }).waitFor()
      await page
        .locator('.chart-fig', { hasText: '5xx error ratio' })
        .locator('.mark-label')
        .first()
        .waitFor({
          timeout: 30_000,
        })
      const charts = await chartsOnPage(browser)
      const latency = charts.find((c) => c.title === 'p50 / p95 / p99')!
      const errors = charts.find((c) => c.title === '5xx error ratio (%)')!
      expect(marked(latency)).toEqual(expect.arrayContaining(['p50 latency', 'p95 latency', 'p99 latency']))
      expect(marked(errors)).toContain('throttled share')
      for (const c of charts.filter((x) => x.labels.length > 0)) expectLaidOut(c)
      await page.getByText('Forecasting is off (forecast.enabled: false in the config)').waitFor()
      expect(charts.find((c) => c.title === 'Requests per second')).toBeDefined()
      expect(forecastRequests).toEqual([])
      expect(pageErrors()).toEqual([])
      await shot('marks-series-1280')
    })

    it('a table wider than a narrow page fades at the edge that hides columns, and not once scrolled there', async () => {
      const { page } = browser
      // a service in the table: it lists what the live feed has seen
      for (let i = 0; i < 20; i++) await (await fetch(`${vigil!.gatewayUrl}/browse`)).arrayBuffer()
      await page.goto(`${vigil!.adminUrl}/#/overview`)
      await page.getByRole('row', { name: /shop demo/ }).waitFor({ timeout: 30_000 })
      await shot('marks-overview-1280-services')
      await page.setViewportSize({ width: 800, height: 900 })
      await shot('marks-overview-800')
      // one service's table fits at 800 px; at a phone's width it does not
      await page.setViewportSize({ width: 480, height: 900 })
      try {
        // (a string: this file's types have no DOM)
        const state = () =>
          page.evaluate(`(() => {
          const el = [...document.querySelectorAll('.scroll-x')].find((e) => e.innerText.includes('shop'))
          const box = el.firstElementChild
          return {
            more: el.dataset.more,
            overflows: box.scrollWidth > box.clientWidth + 1,
            fade: getComputedStyle(el, '::after').opacity,
          }
        })()`) as Promise<{ more: string; overflows: boolean; fade: string }>
        await expect.poll(state).toMatchObject({ more: 'right', overflows: true })
        await expect.poll(async () => (await state()).fade).toBe('1')
        await shot('marks-overview-480')
        await page.evaluate(
          `[...document.querySelectorAll('.scroll-x')].find((e) => e.innerText.includes('shop')).firstElementChild.scrollLeft = 10000`,
        )
        await expect.poll(async () => (await state()).more).toBe('left')
        // wide enough: no cue
        await page.setViewportSize({ width: 1280, height: 900 })
        await expect.poll(state).toMatchObject({ more: '', overflows: false })
      } finally {
        await page.setViewportSize({ width: 1280, height: 900 })
      }
    })
  },
)
