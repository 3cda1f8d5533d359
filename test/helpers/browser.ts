/**
 * @module Headless Chromium for the browser tests: Debian's `chromium` driven by playwright-core
 * (never a downloaded browser). When /usr/bin/chromium is missing it is installed with apt-get
 * (as root, where apt-get exists); when that is impossible the tests skip with one line on a
 * laptop and fail under CI=true.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'

/** Flags for a closed network and a root user (the machine's notes). */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

function aptInstall(): string | null {
  if (process.getuid?.() !== 0) return 'not root, so apt-get cannot install it'
  if (spawnSync('which', ['apt-get']).status !== 0) return 'apt-get is not available'
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  let r = spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], {
    env,
    stdio: 'ignore',
    timeout: 600_000,
  })
  if (r.status !== 0) {
    // the package lists may be missing or stale on a fresh machine
    spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore', timeout: 300_000 })
    r = spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { env, stdio: 'ignore', timeout: 600_000 })
  }
  return r.status === 0 && existsSync(CHROMIUM) ? null : `apt-get install chromium exited ${r.status}`
}

/**
 * True when Chromium is there (installing it if needed). Otherwise: under CI=true throws;
 * on a laptop prints one line and returns false so the caller can skip.
 */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true
  const why = aptInstall()
  if (why === null) return true
  const msg = `Debian's chromium is missing at ${CHROMIUM} and ${why}`
  if (process.env.CI === 'true') throw new Error(`${msg}; CI=true requires the browser tests`)
  process.stderr.write(`skipping browser tests: ${msg}\n`)
  return false
}

export interface Browser {
  context: BrowserContext
  page: Page
  /** console errors and page errors seen so far */
  errors: string[]
  close(): Promise<void>
}

/** A fresh profile, one page, console errors collected. */
export async function openBrowser(viewport = { width: 1366, height: 900 }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'vigil-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport,
  })
  const page = context.pages()[0] ?? (await context.newPage())
  const errors: string[] = []
  const onConsole = (m: ConsoleMessage) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`)
  }
  page.on('console', onConsole)
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`))
  return {
    context,
    page,
    errors,
    close: async () => {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}
