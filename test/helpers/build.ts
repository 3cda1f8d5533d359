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

function newestSourceMs(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSourceMs(path))
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs)
  }
  return newest
}

/** True when dist/ exists and no source file is newer than it. */
export function isBuilt(): boolean {
  return existsSync(marker) && statSync(marker).mtimeMs >= newestSourceMs(join(root, 'src'))
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
}
