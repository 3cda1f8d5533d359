// The README's opening picture, docs/img/overview.png: the dashboard's Overview during a real
// `vigil demo`, taken with Debian's Chromium through playwright-core (never a downloaded browser).
//
//   npm run build && node scripts/overview-screenshot.mjs [--out docs/img/overview.png] [--url <login link>]
//
// Without --url it starts the demo itself (free ports, first incident at 3 min, one a minute) and
// stops it after the shot; with --url it shoots a dashboard already running (the login link
// `vigil demo` prints). It waits until the Overview has something to show: an incident under way
// (several open anomalies, which the charts mark), an alert, and limit and scaling actions; its
// own demo first runs 6 minutes, so the charts hold a few incidents. Then it shoots the page in a
// 1280 px wide window, down to the active alerts.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CHROMIUM = '/usr/bin/chromium'
const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: join(ROOT, 'docs/img/overview.png') },
    url: { type: 'string' },
    // a demo of our own: no shot before this many minutes (a few incidents marked on the charts)
    'at-min': { type: 'string', default: '6' },
  },
})

if (!existsSync(CHROMIUM)) {
  console.error(`no ${CHROMIUM}: apt-get install -y chromium`)
  process.exit(1)
}
if (!existsSync(join(ROOT, 'dist/ui/index.html'))) {
  console.error('the dashboard is not built: npm run build')
  process.exit(1)
}

/** Starts `vigil demo` and resolves with its login link once it prints it. */
function startDemo() {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'bin/vigil.js'),
      'demo',
      ...['--duration', '12m', '--first-incident', '3m', '--incident-every', '1m'],
      ...['--gateway-port', '0', '--admin-port', '0', '--mock-port-base', '0'],
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk) => {
      out += chunk
      // the whole line: a chunk may end inside the token
      const link = /dashboard\s+(http:\/\/\S+#token=\S+)\r?\n/.exec(out)
      if (link !== null) resolve({ link: link[1], stop: () => child.kill('SIGINT') })
    })
    child.once('exit', (code) => reject(new Error(`vigil demo exited (${code}) before printing its link`)))
  })
}

const startedAt = Date.now()
const demo = args.url === undefined ? await startDemo() : null
const link = args.url ?? demo.link
const base = new URL(link).origin
const token = new URL(link).hash.replace('#token=', '')
console.log(`dashboard ${link}`)

/** What the Overview will show: open anomalies, active alerts, limit and scaling actions. */
async function ready() {
  const get = async (path) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } })
    if (res.status === 401 || res.status === 403)
      throw new Error(`${path}: ${res.status}: check the link's token`)
    return res.ok ? res.json() : null
  }
  const anomalies = (await get('/api/anomalies'))?.anomalies ?? []
  const alerts = ((await get('/api/alerts'))?.alerts ?? []).filter((a) => a.state !== 'resolved')
  const actions = (await get('/api/actions?limit=200'))?.actions ?? []
  const acted =
    actions.some((a) => a.kind.startsWith('scale.')) && actions.some((a) => a.kind.startsWith('limits.'))
  return { anomalies: anomalies.length, alerts: alerts.length, acted }
}

const earliest = demo !== null ? startedAt + Number(args['at-min']) * 60_000 : 0
const deadline = Math.max(earliest, Date.now()) + 4 * 60_000
for (;;) {
  const r = await ready()
  console.log(
    `anomalies ${r.anomalies}, alerts ${r.alerts}, limit and scaling actions ${r.acted ? 'yes' : 'not yet'}`,
  )
  // the Overview marks open anomalies only: shoot during an incident, when several are open
  if (r.anomalies >= 5 && r.alerts >= 1 && r.acted && Date.now() >= earliest) break
  if (Date.now() > deadline) {
    demo?.stop()
    console.error('gave up: the demo showed no anomaly, alert and action in time')
    process.exit(1)
  }
  await new Promise((r) => setTimeout(r, 5_000))
}

const { chromium } = await import('playwright-core')
const profile = mkdtempSync(join(tmpdir(), 'vigil-shot-chromium-'))
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
})
try {
  const page = context.pages()[0] ?? (await context.newPage())
  await page.goto(link)
  // the charts drawn with their marks, the services table filled in
  await page.locator('figure.chart-fig .mark-label').first().waitFor({ timeout: 60_000 })
  await page.locator('table').first().locator('tbody tr').first().waitFor({ timeout: 60_000 })
  // a few live updates, so sparklines and the activity list have filled
  await page.waitForTimeout(6_000)
  // down to the active alerts (the window's height when they are off screen), at most 1,200 px
  const alerts = await page.locator('section.panel', { hasText: 'Active alerts' }).last().boundingBox()
  const height = Math.min(1200, Math.max(900, Math.ceil((alerts?.y ?? 0) + (alerts?.height ?? 0) + 16)))
  // a window that tall rather than a clip of a longer page: the sidebar reaches the bottom
  await page.setViewportSize({ width: 1280, height })
  await page.waitForTimeout(1_000)
  await page.screenshot({ path: args.out, type: 'png' })
  console.log(`${args.out}: ${Math.round(statSync(args.out).size / 1024)} KB`)
} finally {
  await context.close()
  rmSync(profile, { recursive: true, force: true })
  demo?.stop()
}
