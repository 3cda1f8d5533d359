// The dashboard with 1,000 live series (bench/dashboard-feed.mjs serves a fake system: 1,000
// route series in 50 services, every series closing a window every 2 s as on the demo's clock).
//
// Part 1, server CPU of the live feed: CPU of the server process per second with 1 and 10 SSE
// clients reading, for the real feed (diff: only the series that closed a window) and a naive
// baseline (full: every series every tick). Interleaved rounds; the clients read in this process.
// Part 2, browser frame time: Debian's Chromium (skipped without /usr/bin/chromium) shows the
// Overview and the Rate limits page of the dashboard fed by 1,000 series, against the same pages
// fed by 10 series, interleaved; rAF frame intervals and long tasks over 15 s each.
// Bounded: about 4 minutes.
import { fork } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const FEED = fileURLToPath(new URL('./dashboard-feed.mjs', import.meta.url))
const TOKEN = 'bench-token'
const ROUNDS = 3
const MEASURE_MS = 15_000

function startFeed(env) {
  const child = fork(FEED, [], {
    env: { ...process.env, TOKEN, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  return new Promise((resolve) => {
    child.once('message', (m) => {
      const ask = () =>
        new Promise((r) => {
          child.once('message', r)
          child.send('cpu')
        })
      resolve({
        url: m.url,
        series: m.series,
        ask,
        stop: () => new Promise((r) => (child.once('exit', r), child.send('stop'))),
      })
    })
  })
}

/** Opens `n` SSE readers that count bytes; returns a closer. */
async function readers(url, n) {
  const acs = []
  let bytes = 0
  for (let i = 0; i < n; i++) {
    const ac = new AbortController()
    acs.push(ac)
    const res = await fetch(`${url}/api/live`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: ac.signal,
    })
    void (async () => {
      try {
        for await (const chunk of res.body) bytes += chunk.length
      } catch {
        /* aborted */
      }
    })()
  }
  return { bytes: () => bytes, close: () => acs.forEach((a) => a.abort()) }
}

// PARTS=1 or PARTS=2 runs one part only
const PARTS = process.env.PARTS ?? '12'
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]

// ---- part 1 ----------------------------------------------------------------------------------
const cases = []
if (PARTS.includes('1'))
  for (const mode of ['diff', 'full'])
    for (const clients of [1, 10]) cases.push({ mode, clients, cpu: [], kbps: [] })
for (let round = 0; round < ROUNDS; round++) {
  for (const c of round % 2 === 0 ? cases : [...cases].reverse()) {
    const feed = await startFeed({ MODE: c.mode })
    const r = await readers(feed.url, c.clients)
    await sleep(3_000)
    await feed.ask()
    const b0 = r.bytes()
    await sleep(MEASURE_MS / 3)
    const m = await feed.ask()
    const secs = MEASURE_MS / 3 / 1000
    c.cpu.push(m.cpuMs / secs / 10) // % of one core
    c.kbps.push((r.bytes() - b0) / secs / 1024 / c.clients)
    c.series = feed.series
    r.close()
    await feed.stop()
  }
}
if (PARTS.includes('1'))
  console.log(
    `\nPart 1: server CPU of the live feed, ${cases[0].series} series, median of ${ROUNDS} interleaved rounds`,
  )
console.log('feed                       clients   server CPU (% of a core)   KB/s per client')
for (const c of cases)
  console.log(
    `${c.mode === 'diff' ? 'diff (Vigil)              ' : 'full every tick (baseline)'} ${String(c.clients).padStart(7)}   ${median(c.cpu).toFixed(1).padStart(8)}  (${Math.min(...c.cpu).toFixed(1)}-${Math.max(...c.cpu).toFixed(1)})        ${median(c.kbps).toFixed(0).padStart(6)}`,
  )

// ---- part 2 ----------------------------------------------------------------------------------
if (!PARTS.includes('2')) process.exit(0)
if (!existsSync('/usr/bin/chromium')) {
  console.log('\nPart 2 skipped: no /usr/bin/chromium (apt-get install -y chromium)')
  process.exit(0)
}
const { chromium } = await import('playwright-core')
const profile = mkdtempSync(join(tmpdir(), 'vigil-bench-chromium-'))
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1366, height: 900 },
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
})
const page = context.pages()[0] ?? (await context.newPage())
const MEASURE = `new Promise((resolve) => {
  const frames = []; let long = 0; let longCount = 0; let prev = performance.now()
  const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) { long += e.duration; longCount++ } })
  obs.observe({ type: 'longtask', buffered: false })
  const end = prev + ${MEASURE_MS}
  const step = (t) => { frames.push(t - prev); prev = t; if (t < end) requestAnimationFrame(step); else { obs.disconnect(); resolve({ frames, long, longCount }) } }
  requestAnimationFrame(step)
})`
const pct = (a, q) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(q * a.length))]
const views = []
for (const series of [1000, 10])
  for (const view of ['overview', 'limits']) views.push({ series, view, runs: [] })
for (let round = 0; round < 2; round++) {
  for (const v of round % 2 === 0 ? views : [...views].reverse()) {
    const feed = await startFeed({
      MODE: 'diff',
      SERIES: String(v.series),
      SERVICES: String(Math.min(50, v.series)),
    })
    await page.goto(`${feed.url}/#token=${TOKEN}`)
    await page.locator('#kpi-rate .v', { hasText: /req\/s/ }).waitFor({ timeout: 30_000 })
    if (v.view !== 'overview') await page.goto(`${feed.url}/#/${v.view}`)
    await sleep(2_000)
    const r = await page.evaluate(MEASURE)
    const heap = await page.evaluate('performance.memory ? performance.memory.usedJSHeapSize : 0')
    v.runs.push({ ...r, heap })
    await feed.stop()
  }
}
await context.close()
rmSync(profile, { recursive: true, force: true })
console.log(
  `\nPart 2: browser frame time over ${MEASURE_MS / 1000} s (Chromium headless, 1366x900), 2 interleaved rounds pooled`,
)
console.log(
  'series  page       frames/s   frame p50 / p95 / p99 (ms)   frames > 50 ms   long tasks (ms/s)   JS heap (MB)',
)
for (const v of views) {
  const frames = v.runs.flatMap((r) => r.frames)
  const secs = (v.runs.length * MEASURE_MS) / 1000
  const long = v.runs.reduce((a, r) => a + r.long, 0) / secs
  const over = frames.filter((f) => f > 50).length
  console.log(
    `${String(v.series).padStart(6)}  ${v.view.padEnd(9)}  ${(frames.length / secs).toFixed(1).padStart(8)}   ${pct(frames, 0.5).toFixed(1)} / ${pct(frames, 0.95).toFixed(1)} / ${pct(frames, 0.99).toFixed(1)}`.padEnd(
      62,
    ) +
      `${String(over).padStart(6)} (${((100 * over) / frames.length).toFixed(1)}%)   ${long.toFixed(1).padStart(10)}         ${(median(v.runs.map((r) => r.heap)) / 1e6).toFixed(1)}`,
  )
}
