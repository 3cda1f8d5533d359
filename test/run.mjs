#!/usr/bin/env node
/**
 * `npm test`: lint, type check and build, then every test file.
 *
 * The three checks run at once (each is mostly single-threaded). Then the unit files, on both
 * cores; then the end-to-end files in two vitest processes at once, one file at a time in each:
 * the `integration` and `integration-2` projects (see vitest.config.ts). End-to-end files spend
 * most of their time waiting on windows and timeouts, so one lane alone leaves a core idle for
 * minutes. Output lines carry the step's name; the exit code is non-zero when anything failed.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const vitest = [
  process.execPath,
  fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url)),
]

/** Runs a command; `prefix` streams its lines with a tag, otherwise its output is printed when it ends. */
function run(name, [cmd, ...args], { prefix = false } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now()
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let buffered = ''
    for (const stream of [child.stdout, child.stderr]) {
      const out = stream === child.stdout ? process.stdout : process.stderr
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        if (prefix) out.write(`[${name}] ${line}\n`)
        else buffered += `${line}\n`
      })
    }
    child.on('close', (code, signal) => {
      const s = ((Date.now() - t0) / 1000).toFixed(0)
      if (!prefix) process.stdout.write(`\n> ${name}\n${buffered}`)
      process.stdout.write(
        `[${name}] ${code === 0 ? 'passed' : `FAILED (${signal ?? `exit ${code}`})`} in ${s} s\n`,
      )
      resolve(code === 0)
    })
  })
}

const checks = await Promise.all([
  run('lint', [npm, 'run', '--silent', 'lint']),
  run('typecheck', [npm, 'run', '--silent', 'typecheck']),
  run('build', [npm, 'run', '--silent', 'build']),
])
if (!checks.every(Boolean)) process.exit(1)

// unit files first on both cores: CPU-bound, they would slow the end-to-end files' clocks
const unit = await run('unit', [...vitest, 'run', '--project', 'unit'], { prefix: true })
const lanes = await Promise.all([
  run('integration', [...vitest, 'run', '--project', 'integration'], { prefix: true }),
  run('integration-2', [...vitest, 'run', '--project', 'integration-2'], { prefix: true }),
])
process.exit(unit && lanes.every(Boolean) ? 0 : 1)
