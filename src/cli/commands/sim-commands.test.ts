import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { startMockService } from '../../sim/index.js'
import { run } from '../main.js'
import { captureOutput as capture } from '../../../test/helpers/cli.js'

afterEach(() => vi.restoreAllMocks())

describe('vigil load and vigil mock', () => {
  it('load prints a JSON summary of traffic it sent', async () => {
    const svc = await startMockService({ name: 'orders' })
    try {
      const io = capture()
      const code = await run([
        'load',
        '--target',
        `${svc.url}/orders`,
        '--rps',
        '40',
        '--duration',
        '600ms',
        '--json',
      ])
      vi.restoreAllMocks()
      expect(code).toBe(0)
      const summary = JSON.parse(io.out()) as { sent: number; statusCounts: Record<string, number> }
      expect(summary.sent).toBeGreaterThan(0)
      expect(summary.statusCounts['200']).toBeGreaterThan(0)
    } finally {
      await svc.close()
    }
  })

  it('load against a port where nothing listens exits 1, saying why and what to check', async () => {
    const server = createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const { port } = server.address() as AddressInfo
    await new Promise((r) => server.close(r))
    const target = `http://127.0.0.1:${port}/`
    const io = capture()
    const code = await run(['load', '--target', target, '--rps', '20', '--duration', '300ms'])
    vi.restoreAllMocks()
    expect(code).toBe(1)
    expect(io.out()).toMatch(/^latency ms {2}none \(no response\)$/m)
    expect(io.err()).toMatch(
      new RegExp(
        `^vigil load: no request to ${target} got a response \\(ECONNREFUSED: \\d+\\); check that the service runs and --target names its port\n$`,
        'm',
      ),
    )
  })

  it('load without --target is a usage error naming the flag', async () => {
    const io = capture()
    const code = await run(['load', '--rps', '5'])
    vi.restoreAllMocks()
    expect(code).toBe(2)
    expect(io.err()).toMatch(/load needs --target URL/)
  })

  it('load names the flag of a bad pattern or duration', async () => {
    const io = capture()
    expect(await run(['load', '--target', 'http://127.0.0.1:1/', '--pattern', 'flood'])).toBe(2)
    expect(await run(['load', '--target', 'http://127.0.0.1:1/', '--duration', 'soon'])).toBe(2)
    vi.restoreAllMocks()
    expect(io.err()).toMatch(/--pattern: expected one of steady, diurnal, spike, abusive, got "flood"/)
    expect(io.err()).toMatch(/--duration: expected a duration/)
  })

  it('load refuses a duration of 0 or one too long for a timer, which would end it at once', async () => {
    const io = capture()
    expect(await run(['load', '--target', 'http://127.0.0.1:1/', '--duration', '1000h'])).toBe(2)
    expect(await run(['load', '--target', 'http://127.0.0.1:1/', '--duration', '0s'])).toBe(2)
    vi.restoreAllMocks()
    expect(io.err()).toMatch(/--duration: expected at most 596h, got "1000h"/)
    expect(io.err()).toMatch(/--duration: expected a duration > 0 \(how long to send\), got "0s"/)
  })

  it('mock names the flag of a bad rate or port', async () => {
    const io = capture()
    expect(await run(['mock', '--port', '0', '--error-rate', '2'])).toBe(2)
    expect(await run(['mock'])).toBe(2)
    expect(await run(['mock', '--port', '0', '--concurrency', '0.5'])).toBe(2)
    vi.restoreAllMocks()
    expect(io.err()).toMatch(/--concurrency: expected a whole number ≥ 1, got "0.5"/)
    expect(io.err()).toMatch(/--error-rate: expected a fraction in \[0, 1\], got "2"/)
    expect(io.err()).toMatch(/mock needs --port/)
  })

  it('mock refuses a port outside 0..65535 or not a whole number, naming the flag', async () => {
    const io = capture()
    expect(await run(['mock', '--port', '65536'])).toBe(2)
    expect(await run(['mock', '--port', '80.5'])).toBe(2)
    vi.restoreAllMocks()
    expect(io.err()).toMatch(/--port: expected a port 0\.\.65535 \(0 picks a free one\), got "65536"/)
    expect(io.err()).toMatch(/--port: expected a port 0\.\.65535 \(0 picks a free one\), got "80\.5"/)
  })
})

describe('vigil mock', () => {
  /** The first line `vigil mock ...args` prints; the process is stopped with SIGTERM after it. */
  async function firstLine(...args: string[]): Promise<string> {
    const bin = fileURLToPath(new URL('../../../bin/vigil.js', import.meta.url))
    const child = spawn(process.execPath, [bin, 'mock', '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    try {
      const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string]
      return line
    } finally {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  }

  it('says "mock listening" without --name, and "mock NAME listening" with one', async () => {
    expect(await firstLine()).toMatch(
      /^mock listening on http:\/\/127\.0\.0\.1:\d+ \(latency p5 0 ms, p99 0 ms\)$/,
    )
    expect(await firstLine('--name', 'orders')).toMatch(
      /^mock orders listening on http:\/\/127\.0\.0\.1:\d+ /,
    )
  })
})

describe('vigil demo flags', () => {
  // each is refused while the flags are read, before anything listens or a directory is made
  const refused = async (args: string[]) => {
    const io = capture()
    const code = await run(['demo', ...args])
    vi.restoreAllMocks()
    return { code, err: io.err(), out: io.out() }
  }

  it('refuses a port out of range, naming the flag and the range', async () => {
    for (const [flag, value, range] of [
      ['--admin-port', '99999', '0..65535'],
      ['--gateway-port', '-1', '0..65535'],
      ['--gateway-port', '8080.5', '0..65535'],
      // the mocks and the shop's six services take the ports from the base on
      ['--mock-port-base', '65530', '0..65529'],
    ]) {
      const r = await refused([flag, value])
      expect(r.code).toBe(2)
      expect(r.err).toBe(`${flag}: expected a port ${range} (0 picks a free one), got "${value}"\n`)
      expect(r.out).toBe('')
    }
  })

  it('refuses zero durations that would inject incidents or start days back to back', async () => {
    for (const [flag, meaning] of [
      ['--day', 'the length of one compressed day of traffic'],
      ['--incident-every', 'the time from one incident to the next'],
      ['--incident-for', 'how long each incident lasts'],
      ['--status-every', 'the time between status lines'],
    ]) {
      const r = await refused([flag, '0'])
      expect(r.code).toBe(2)
      expect(r.err).toMatch(`${flag}: expected a duration > 0 (${meaning}`)
      expect(r.err).toMatch(/, got "0"\n$/)
      expect(r.out).toBe('')
    }
  })

  it('refuses durations too long for a timer, which would fire at once', async () => {
    for (const flag of ['--duration', '--first-incident', '--incident-every']) {
      const r = await refused([flag, '600h'])
      expect(r.code).toBe(2)
      expect(r.err).toBe(`${flag}: expected at most 596h, got "600h"\n`)
    }
  })
})
