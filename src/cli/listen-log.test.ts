import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { expect, it } from 'vitest'
import { startVigil } from './runtime.js'

it('logs where a gateway bound to every interface listens, not a loopback URL alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-listen-'))
  const file = join(dir, 'vigil.yaml')
  writeFileSync(
    file,
    [
      'gateway: { host: 0.0.0.0, port: 0, accessLog: { enabled: false } }',
      'admin: { host: 127.0.0.1, port: 0 }',
      'services:',
      '  api: { targets: [http://127.0.0.1:9] }',
      'routes:',
      '  - { path: /, service: api }',
      "telemetry: { otlp: { host: '::', port: 0 } }",
      `limits: { dataDir: ${JSON.stringify(dir)} }`,
      '',
    ].join('\n'),
  )
  const lines: Array<{ msg: string; listen?: string; url?: string }> = []
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) })
  const gw = await startVigil({ configFile: file, mode: 'gateway', logger, env: {} })
  try {
    const line = (msg: string) => lines.find((l) => l.msg === msg)
    const port = (url: string) => new URL(url).port
    const g = line('gateway listening')!
    expect(g.listen).toBe(`http://0.0.0.0:${port(gw.gatewayUrl)} (all interfaces)`)
    // the URL this host calls it by stays, for scripts that read it
    expect(g.url).toBe(gw.gatewayUrl)
    expect(gw.gatewayUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const o = line('OTLP/HTTP receiver listening')!
    expect(o.listen).toMatch(/^http:\/\/\[::\]:\d+ \(all interfaces\) \/v1\/traces$/)
    expect(line('admin API listening')?.listen).toBe(gw.adminUrl)
  } finally {
    await gw.stop()
    rmSync(dir, { recursive: true, force: true })
  }
})
