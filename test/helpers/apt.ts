/**
 * @module Debian packages some tests drive (chromium, prometheus's promtool): installed with
 * apt-get when missing, as root where apt-get exists. When that is impossible the caller skips
 * with one line on a laptop and fails under CI=true, which must exercise the real tool.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

function aptInstall(pkg: string, binary: string): string | null {
  if (process.getuid?.() !== 0) return 'not root, so apt-get cannot install it'
  if (spawnSync('which', ['apt-get']).status !== 0) return 'apt-get is not available'
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  let r = spawnSync('apt-get', ['install', '-y', '-qq', pkg], { env, stdio: 'ignore', timeout: 600_000 })
  if (r.status !== 0) {
    // the package lists may be missing or stale on a fresh machine
    spawnSync('apt-get', ['update', '-qq'], { env, stdio: 'ignore', timeout: 300_000 })
    r = spawnSync('apt-get', ['install', '-y', '-qq', pkg], { env, stdio: 'ignore', timeout: 600_000 })
  }
  return r.status === 0 && existsSync(binary) ? null : `apt-get install ${pkg} exited ${r.status}`
}

/**
 * True when `binary` is there (installing Debian's `pkg` if needed). Otherwise: under CI=true
 * throws; on a laptop prints one line naming `what` is skipped and returns false.
 */
export function debianToolAvailable(pkg: string, binary: string, what: string): boolean {
  if (existsSync(binary)) return true
  const why = aptInstall(pkg, binary)
  if (why === null) return true
  const msg = `Debian's ${pkg} is missing at ${binary} and ${why}`
  if (process.env.CI === 'true') throw new Error(`${msg}; CI=true requires ${what}`)
  process.stderr.write(`skipping ${what}: ${msg}\n`)
  return false
}
