/**
 * @module Runs `vigil demo` from the build as a child process for end-to-end tests: waits for its
 * start-up lines, exposes the gateway and admin URLs, and stops it with SIGINT (as Ctrl-C does).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))

export interface RunningDemo {
  gatewayUrl: string
  adminUrl: string
  token: string
  child: ChildProcess
  /** everything printed so far */
  stdout(): string
  /** SIGINT, then the exit code */
  stop(): Promise<number | null>
}

/**
 * examples/demo.yaml on a faster clock for tests: 1 s windows and forecasts from 10 windows of
 * history, so a lean test sees series, forecasts and client windows within seconds.
 */
export function fastDemoConfig(): string {
  const text = readFileSync(join(root, 'examples/demo.yaml'), 'utf8')
    .replace(/windowMs: 2000\n/, 'windowMs: 1000\n')
    .replace(/forecast:\n/, 'forecast:\n  minHistory: 10\n')
    .replace(/stats: \{ windowMs: 2000/, 'stats: { windowMs: 1000')
  const file = join(mkdtempSync(join(tmpdir(), 'vigil-demo-config-')), 'demo.yaml')
  writeFileSync(file, text)
  return file
}

export function startDemo(args: string[], token: string, timeoutMs = 60_000): Promise<RunningDemo> {
  const child = spawn(process.execPath, [join(root, 'bin/vigil.js'), 'demo', ...args], {
    cwd: mkdtempSync(join(tmpdir(), 'vigil-demo-cwd-')),
    env: { ...process.env, VIGIL_ADMIN_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`vigil demo did not start within ${timeoutMs} ms\n${out}\n${err}`))
    }, timeoutMs)
    const check = () => {
      const m = /vigil demo: gateway (\S+) {2}admin (\S+)/.exec(out)
      if (m === null || !/ {2}dashboard {2}/.test(out)) return
      clearTimeout(timer)
      child.stdout!.off('data', check)
      resolve({
        gatewayUrl: m[1],
        adminUrl: m[2],
        token,
        child,
        stdout: () => out,
        stop: async () => {
          if (child.exitCode === null) child.kill('SIGINT')
          return exited
        },
      })
    }
    child.stdout!.on('data', check)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`vigil demo exited ${code} before it was up\n${out}\n${err}`))
    })
  })
}
