/**
 * @module Builds `dist/` once per test run (vitest globalSetup), before any test file starts, so
 * tests that spawn the CLI or the control-plane worker never race a concurrent rebuild that is
 * rewriting the files they load. Rebuilds only when a source file is newer than the build.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const marker = join(root, 'dist/cli/main.js')
const uiMarker = join(root, 'dist/ui/index.html')
const UI_SOURCE = /\.(tsx?|css|html)$/

function newestSourceMs(dir: string, match: RegExp = /\.ts$/): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMs(path, match))
    else if (match.test(entry.name) && !entry.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

/** True when dist/ exists and no source file is newer than it. */
export function isBuilt(): boolean {
  return existsSync(marker) && statSync(marker).mtimeMs >= newestSourceMs(join(root, 'src'))
}

/** True when the dashboard's bundle exists and none of its sources (or the server types it reads) is newer. */
export function isUiBuilt(): boolean {
  return existsSync(uiMarker) && statSync(uiMarker).mtimeMs >= newestSourceMs(join(root, 'src/ui'), UI_SOURCE)
}

/** Builds the dashboard (Vite) when stale; the browser tests and the admin server serve it. */
export function ensureUiBuilt(): void {
  if (isUiBuilt()) return
  spawnSync(
    process.execPath,
    [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'src/ui/vite.config.ts'],
    { cwd: root, stdio: 'inherit' },
  )
  if (!existsSync(uiMarker)) throw new Error('dashboard build failed: run `npm run build` to see why')
}

/** Compiles src/ to dist/ when stale. tsc emits even when a type error exists elsewhere; the type check is `npm run typecheck`. */
export function ensureBuilt(): void {
  if (isBuilt()) return
  spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  })
  if (!existsSync(marker))
    throw new Error('build failed: dist/cli/main.js missing; run `npm run build` to see why')
}

/** vitest globalSetup entry point. */
export default function setup(): void {
  ensureBuilt()
  ensureUiBuilt()
}
