import { afterEach, describe, expect, it, vi } from 'vitest'
import { startMockService } from '../../sim/index.js'
import { run } from '../main.js'

function capture() {
  const out: string[] = []
  const err: string[] = []
  vi.spyOn(process.stdout, 'write').mockImplementation(
    (c: string | Uint8Array) => (out.push(String(c)), true),
  )
  vi.spyOn(process.stderr, 'write').mockImplementation(
    (c: string | Uint8Array) => (err.push(String(c)), true),
  )
  return { out: () => out.join(''), err: () => err.join('') }
}
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

  it('load without --target is a usage error naming the flag', async () => {
    const io = capture()
    const code = await run(['load', '--rps', '5'])
    vi.restoreAllMocks()
    expect(code).toBe(2)
    expect(io.err()).toMatch(/load needs --target URL/)
  })

  it('load names the flag of a bad pattern or duration', async () => {
    const io = capture()
    expect(await run(['load', '--target', 'http://127.0.0.1:1/', '--pattern', 'flood'])).toBe(1)
    expect(await run(['load', '--target', 'http://127.0.0.1:1/', '--duration', 'soon'])).toBe(2)
    vi.restoreAllMocks()
    expect(io.err()).toMatch(/--pattern: expected one of steady, diurnal, spike, abusive, got "flood"/)
    expect(io.err()).toMatch(/--duration: expected a duration/)
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
})
