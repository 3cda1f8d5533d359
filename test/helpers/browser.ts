/**
 * @module Headless Chromium for the browser tests: Debian's `chromium` driven by playwright-core
 * (never a downloaded browser). When /usr/bin/chromium is missing it is installed with apt-get
 * (as root, where apt-get exists); when that is impossible the tests skip with one line on a
 * laptop and fail under CI=true.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { debianToolAvailable } from './apt.js'
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

/**
 * True when Chromium is there (installing it if needed). Otherwise: under CI=true throws;
 * on a laptop prints one line and returns false so the caller can skip.
 */
export function chromiumAvailable(): boolean {
  return debianToolAvailable('chromium', CHROMIUM, 'the browser tests')
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
    // a failed fetch's message does not name the resource: its location does
    const url = m.location().url
    if (m.type() === 'error') errors.push(`console: ${m.text()}${url !== '' ? ` (${url})` : ''}`)
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

/**
 * Presses Simulate on the journeys page's what-if form until it answers: the model may still be
 * learning on a loaded machine, and the page says so; three tries.
 */
export async function simulateWhatIf(page: Page): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await page.getByRole('button', { name: 'Simulate' }).click()
    const answer = page.locator('#whatif-result, [aria-label="What-if scenario"] ~ .problem').first()
    await answer.waitFor({ timeout: 60_000 })
    if ((await answer.getAttribute('id')) === 'whatif-result' || attempt === 3) return
    await page.waitForTimeout(3000)
  }
}
