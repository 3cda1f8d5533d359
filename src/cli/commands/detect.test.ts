import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../../../test/helpers/build.js'

const root = join(import.meta.dirname, '..', '..', '..')
let dir = ''

function vigil(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'vigil.js'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function csv(n: number, opts: { crlf?: boolean; quote?: boolean; spikeAt?: number } = {}): string {
  const t0 = Date.parse('2024-03-01T00:00:00Z')
  const rows = ['timestamp,value']
  for (let i = 0; i < n; i++) {
    const ts = new Date(t0 + i * 300_000).toISOString().replace('T', ' ').slice(0, 19)
    const v =
      100 + 40 * Math.sin((2 * Math.PI * i) / 288) + ((i * 7919) % 13) - 6 + (i === opts.spikeAt ? 200 : 0)
    rows.push(opts.quote ? `"${ts}","${v}"` : `${ts},${v}`)
  }
  return rows.join(opts.crlf ? '\r\n' : '\n') + '\n'
}

function scores(text: string): number[] {
  return text
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => Number(l.split(',')[2]))
}

beforeAll(() => {
  // the CLI under test is the built one, compiled once per run by the vitest globalSetup
  ensureBuilt()
  dir = mkdtempSync(join(tmpdir(), 'vigil-detect-'))
}, 300_000)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('vigil detect (built CLI, end to end)', () => {
  it('writes timestamp,value,anomaly_score, one row per input row in order, scores in [0,1]', () => {
    const input = join(dir, 'a.csv')
    const output = join(dir, 'a.out.csv')
    writeFileSync(input, csv(3000, { crlf: true, quote: true, spikeAt: 2500 }))
    const r = vigil('detect', '--input', input, '--output', output)
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const lines = readFileSync(output, 'utf8').trim().split('\n')
    expect(lines[0]).toBe('timestamp,value,anomaly_score')
    expect(lines).toHaveLength(3001)
    expect(lines[1].startsWith('2024-03-01 00:00:00,')).toBe(true)
    const s = scores(readFileSync(output, 'utf8'))
    for (const x of s) {
      expect(x).toBeGreaterThanOrEqual(0)
      expect(x).toBeLessThanOrEqual(1)
    }
    expect(Math.max(...s.slice(0, 30))).toBe(0)
    expect(s[2500]).toBeGreaterThan(0.5)
  })

  it('is strictly online: a prefix of the file scores like the start of the whole file', () => {
    const whole = join(dir, 'w.csv')
    const part = join(dir, 'p.csv')
    const text = csv(2000, { spikeAt: 1500 })
    writeFileSync(whole, text)
    writeFileSync(part, text.split('\n').slice(0, 1201).join('\n') + '\n')
    expect(vigil('detect', '-i', whole, '-o', join(dir, 'w.out')).status).toBe(0)
    expect(vigil('detect', '-i', part, '-o', join(dir, 'p.out')).status).toBe(0)
    const a = scores(readFileSync(join(dir, 'w.out'), 'utf8'))
    const b = scores(readFileSync(join(dir, 'p.out'), 'utf8'))
    expect(b).toEqual(a.slice(0, 1200))
  })

  it('scores out-of-order and repeated timestamps as given, with one warning', () => {
    const input = join(dir, 'o.csv')
    writeFileSync(
      input,
      'timestamp,value\n2024-01-02T00:00:00Z,1\n2024-01-01T00:00:00Z,2\n2024-01-01T00:00:00Z,3\n',
    )
    const r = vigil('detect', '--input', input, '--output', '-')
    expect(r.status).toBe(0)
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => /out-of-order/.test(l)),
    ).toHaveLength(1)
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(',')[1]),
    ).toEqual(['value', '1', '2', '3'])
  })

  it('says so when a file is too short to score: every row is warm-up', () => {
    const input = join(dir, 'short.csv')
    writeFileSync(input, csv(40))
    const r = vigil('detect', '--input', input, '--output', '-')
    expect(r.status).toBe(0)
    expect(r.stderr).toMatch(
      /^vigil detect: warning: .*short\.csv: every score is 0 because its 40 row\(s\) with a value are all warm-up .*give it a longer history\n$/,
    )
    expect(scores(r.stdout)).toEqual(new Array(40).fill(0))
  })

  it('fails on an unreadable value, naming the line', () => {
    const input = join(dir, 'bad.csv')
    writeFileSync(input, 'timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,abc\n')
    const r = vigil('detect', '--input', input, '--output', join(dir, 'bad.out'))
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(/bad\.csv:3: value "abc"/)
  })

  it('rejects an unknown detector and lists the names', () => {
    const input = join(dir, 'a.csv')
    const r = vigil('detect', '--input', input, '--output', join(dir, 'x.out'), '--detector', 'nope')
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/^--detector: unknown detector "nope"; choose one of: novelty, .*robust-z/)
    expect(existsSync(join(dir, 'x.out'))).toBe(false)
  })

  it('runs every named detector', () => {
    const input = join(dir, 'a.csv')
    for (const name of ['robust-z', 'rolling-quantile', 'poisson', 'hst', 'iforest', 'cusum']) {
      const r = vigil('detect', '--input', input, '--output', join(dir, `${name}.out`), '--detector', name)
      expect(r.status).toBe(0)
      expect(scores(readFileSync(join(dir, `${name}.out`), 'utf8'))).toHaveLength(3000)
    }
  })
})
