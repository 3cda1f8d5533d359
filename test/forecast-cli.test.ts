// End to end: spawns the built CLI (`npm run build` first; `npm test` does) on CSV files.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = join(root, 'bin', 'vigil.js')
let dir: string

function vigil(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 })
}

/** Runs the CLI as if the optional TensorFlow.js packages were not installed. */
function vigilWithoutTfjs(...args: string[]) {
  const hook = pathToFileURL(join(root, 'test', 'fixtures', 'without-tfjs.mjs')).href
  return spawnSync(process.execPath, ['--import', hook, bin, ...args], { encoding: 'utf8', timeout: 120_000 })
}

function writeSeries(name: string, n: number, stepSec: number, f: (i: number) => number | string): string {
  const t0 = Date.UTC(2026, 0, 5)
  const lines = ['timestamp,value']
  for (let i = 0; i < n; i++) lines.push(`${new Date(t0 + i * stepSec * 1000).toISOString()},${f(i)}`)
  const path = join(dir, name)
  writeFileSync(path, lines.join('\n') + '\n')
  return path
}

beforeAll(() => {
  if (!existsSync(join(root, 'dist', 'cli', 'commands', 'forecast.js')))
    throw new Error('dist/ is missing: run `npm run build` before this test')
  dir = mkdtempSync(join(tmpdir(), 'vigil-forecast-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('vigil forecast', () => {
  it('writes step,forecast,lower,upper for the horizon and names the model on stderr', () => {
    const input = writeSeries('hourly.csv', 24 * 14, 3600, (i) =>
      (100 + 20 * Math.sin((2 * Math.PI * i) / 24)).toFixed(3),
    )
    const output = join(dir, 'out.csv')
    const r = vigil('forecast', '--input', input, '--horizon', '24', '--output', output)
    expect(r.status, r.stderr).toBe(0)
    const lines = readFileSync(output, 'utf8').trim().split('\n')
    expect(lines[0]).toBe('step,forecast,lower,upper')
    expect(lines).toHaveLength(25)
    const rows = lines.slice(1).map((l) => l.split(',').map(Number))
    rows.forEach(([step, f, lo, hi], h) => {
      expect(step).toBe(h + 1)
      expect(lo).toBeLessThanOrEqual(f)
      expect(hi).toBeGreaterThanOrEqual(f)
      expect(Math.abs(f - (100 + 20 * Math.sin((2 * Math.PI * (24 * 14 + h)) / 24)))).toBeLessThan(1)
    })
    expect(r.stderr).toMatch(/model .*; seasons 24/)
  })

  it('honours --model, --season, --level, --order and writes to stdout with -', () => {
    const input = writeSeries('trend.csv', 200, 60, (i) => 10 + 0.5 * i + (i % 7))
    const r = vigil(
      'forecast',
      '--input',
      input,
      '--horizon',
      '5',
      '--output',
      '-',
      '--model',
      'arima',
      '--order',
      '3,1,2',
      '--season',
      '7',
      '--level',
      '95',
      '--quiet',
    )
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr).toBe('')
    const lines = r.stdout.trim().split('\n')
    expect(lines).toHaveLength(6)
  })

  it('forecasts with the LSTM and writes nothing but the forecast to stdout', () => {
    const input = writeSeries('lstm.csv', 24 * 6, 3600, (i) =>
      (50 + 10 * Math.sin((2 * Math.PI * i) / 24)).toFixed(3),
    )
    const r = vigil('forecast', '--input', input, '--horizon', '4', '--output', '-', '--model', 'lstm')
    expect(r.status, r.stderr).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toBe('step,forecast,lower,upper')
    expect(lines.slice(1).map((l) => l.split(',').map(Number).every(Number.isFinite))).toEqual([
      true,
      true,
      true,
      true,
    ])
    expect(r.stderr).not.toMatch(/TensorFlow|tfjs-node/)
  })

  it('without TensorFlow.js, --model lstm says how to enable it and the other models still work', () => {
    const input = writeSeries('no-tf.csv', 24 * 6, 3600, (i) => 50 + (i % 24))
    const r = vigilWithoutTfjs(
      'forecast',
      '--input',
      input,
      '--horizon',
      '4',
      '--output',
      '-',
      '--model',
      'lstm',
    )
    expect(r.status).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(
      /^model lstm needs TensorFlow\.js, an optional dependency that is not installed/m,
    )
    expect(r.stderr).toMatch(/npm install --include=optional/)
    expect(r.stderr).toMatch(/@tensorflow\/tfjs/)
    const auto = vigilWithoutTfjs('forecast', '--input', input, '--horizon', '4', '--output', '-', '--quiet')
    expect(auto.status, auto.stderr).toBe(0)
    expect(auto.stdout.trim().split('\n')).toHaveLength(5)
  })

  it('reads rows out of time order and repeated timestamps in time order, with a warning', () => {
    const f = (i: number) => (100 + 20 * Math.sin((2 * Math.PI * i) / 24)).toFixed(3)
    const clean = writeSeries('clean.csv', 24 * 7, 3600, f)
    const lines = readFileSync(clean, 'utf8').trim().split('\n')
    // two rows swapped and one repeated
    const messy = [
      ...lines.slice(0, 50),
      lines[51],
      lines[50],
      ...lines.slice(52, 90),
      lines[89],
      ...lines.slice(90),
    ]
    const messyPath = join(dir, 'messy.csv')
    writeFileSync(messyPath, `${messy.join('\n')}\n`)
    const a = vigil('forecast', '--input', clean, '--horizon', '6', '--output', '-')
    const b = vigil('forecast', '--input', messyPath, '--horizon', '6', '--output', '-')
    expect(b.status, b.stderr).toBe(0)
    expect(b.stderr).toMatch(
      /warning: .*messy\.csv: 1 row\(s\) out of time order and 1 repeated timestamp\(s\)/,
    )
    expect(b.stdout).toBe(a.stdout)
  })

  it('fails with a clear message on bad input', () => {
    const irregular = join(dir, 'irregular.csv')
    writeFileSync(irregular, 'timestamp,value\n0,1\n60,2\n150,3\n180,4\n')
    const r1 = vigil('forecast', '--input', irregular, '--horizon', '3', '--output', join(dir, 'x.csv'))
    expect(r1.status).toBe(1)
    expect(r1.stderr).toMatch(/irregular/)
    const nan = writeSeries('nan.csv', 40, 60, (i) => (i % 2 === 0 ? 'NaN' : i))
    const r2 = vigil('forecast', '--input', nan, '--horizon', '3', '--output', join(dir, 'x.csv'))
    expect(r2.status).toBe(1)
    expect(r2.stderr).toMatch(/missing/)
    const r3 = vigil('forecast', '--input', nan, '--horizon', 'abc', '--output', join(dir, 'x.csv'))
    expect(r3.status).toBe(2)
    expect(r3.stderr).toMatch(/--horizon/)
    const r4 = vigil(
      'forecast',
      '--input',
      nan,
      '--horizon',
      '3',
      '--output',
      join(dir, 'x.csv'),
      '--model',
      'magic',
    )
    expect(r4.status).toBe(2)
    expect(r4.stderr).toMatch(/--model/)
  })
})
