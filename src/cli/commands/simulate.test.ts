import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureBuilt } from '../../../test/helpers/build.js'

const root = join(import.meta.dirname, '..', '..', '..')
let dir = ''

function vigil(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'vigil.js'), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** The HPA-shaped schedule of a file in the test directory, written to stdout (or `output`). */
function reactiveSchedule(
  file: string,
  output = '-',
): { status: number | null; stdout: string; stderr: string } {
  return vigil(
    'simulate',
    'autoscale',
    '--input',
    join(dir, file),
    '--capacity-per-replica',
    '50',
    '--policy',
    'reactive',
    '--output',
    output,
    '--quiet',
  )
}

function demandCsv(n: number): string {
  const t0 = Date.parse('2026-11-02T00:00:00Z')
  const rows = ['timestamp,value']
  for (let i = 0; i < n; i++)
    rows.push(
      `${new Date(t0 + i * 60_000).toISOString()},${(200 + 150 * Math.sin((2 * Math.PI * i) / 120) + (i % 50 < 3 ? 300 : 0)).toFixed(2)}`,
    )
  return `${rows.join('\n')}\n`
}

beforeAll(() => {
  ensureBuilt()
  dir = mkdtempSync(join(tmpdir(), 'vigil-simulate-'))
  writeFileSync(join(dir, 'demand.csv'), demandCsv(400))
}, 300_000)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('vigil simulate autoscale (built CLI)', () => {
  it('writes timestamp,replicas for every input row and prints the three policies', () => {
    const out = join(dir, 'schedule.csv')
    const r = vigil(
      'simulate',
      'autoscale',
      '--input',
      join(dir, 'demand.csv'),
      '--capacity-per-replica',
      '50',
      '--target-utilization',
      '0.8',
      '--startup-seconds',
      '120',
      '--min',
      '1',
      '--max',
      '50',
      '--output',
      out,
    )
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const lines = readFileSync(out, 'utf8').trim().split('\n')
    expect(lines[0]).toBe('timestamp,replicas')
    expect(lines).toHaveLength(401)
    expect(lines[1]).toMatch(/^2026-11-02T00:00:00.000Z,\d+$/)
    for (const l of lines.slice(1)) {
      const n = Number(l.split(',')[1])
      expect(n >= 1 && n <= 50).toBe(true)
    }
    expect(r.stdout).toMatch(/predictive \(stab\. 5m\)\s+[\d.]+\s+\d+\s+\d+/)
    expect(r.stdout).toMatch(/reactive \(HPA-shaped\)\s+[\d.]+\s+\d+\s+\d+/)
    expect(r.stdout).toMatch(/perfect foresight \(reference\)\s+0\.0\s+\d+/)
    expect(r.stdout).toMatch(/predictive \/ reactive: under-provisioned ×/)
  }, 120_000)

  it('writes the reactive schedule with --policy reactive, to stdout with --output -', () => {
    const r = vigil(
      'simulate',
      'autoscale',
      '--input',
      join(dir, 'demand.csv'),
      '--capacity-per-replica',
      '50',
      '--policy',
      'reactive',
      '--stabilization',
      '90m',
      '--output',
      '-',
      '--quiet',
    )
    expect(r.status).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toBe('timestamp,replicas')
    expect(lines).toHaveLength(401)
    expect(r.stderr).toMatch(/predictive \(stab\. 1h 30m\)/)
  }, 120_000)

  it('echoes each input timestamp as written (NAB-style local times, epoch seconds), CRLF input', () => {
    const lines = demandCsv(200).trim().split('\n').slice(1)
    const nab = lines.map((l, i) => {
      const t = new Date(Date.parse('2014-02-14T14:30:00Z') + i * 60_000).toISOString()
      return `${t.slice(0, 10)} ${t.slice(11, 19)},${l.split(',')[1]}`
    })
    writeFileSync(join(dir, 'nab.csv'), `timestamp,value\r\n${nab.join('\r\n')}\r\n`)
    const epoch = lines.map((l, i) => `${1392388200 + i * 60},${l.split(',')[1]}`)
    writeFileSync(join(dir, 'epoch.csv'), `timestamp,value\n${epoch.join('\n')}\n`)
    for (const [file, rows] of [
      ['nab.csv', nab],
      ['epoch.csv', epoch],
    ] as const) {
      const r = reactiveSchedule(file)
      expect(r.status).toBe(0)
      const out = r.stdout.trim().split('\n').slice(1)
      expect(out.map((l) => l.split(',')[0])).toEqual(rows.map((l) => l.split(',')[0]))
    }
    // same demand, same grid: the same replicas whichever way the time is written
    const replicas = (file: string) =>
      reactiveSchedule(file)
        .stdout.trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[1])
    expect(replicas('nab.csv')).toEqual(replicas('epoch.csv'))
  }, 120_000)

  it('simulates missing intervals as rows of unknown demand, warns, and keeps one schedule row per input row', () => {
    const lines = demandCsv(400).trim().split('\n')
    // rows 101–105 missing: five intervals of one minute
    const gappy = [...lines.slice(0, 101), ...lines.slice(106)]
    writeFileSync(join(dir, 'gappy.csv'), `${gappy.join('\n')}\n`)
    const r = reactiveSchedule('gappy.csv')
    expect(r.status).toBe(0)
    expect(r.stderr).toMatch(
      /warning: .*gappy\.csv: 5 missing interval\(s\) of 60 s simulated as rows of unknown demand/,
    )
    const out = r.stdout.trim().split('\n')
    expect(out).toHaveLength(gappy.length)
    expect(out.slice(1).map((l) => l.split(',')[0])).toEqual(gappy.slice(1).map((l) => l.split(',')[0]))
    // the same series without the gap asks for the same replicas before it
    const whole = reactiveSchedule('demand.csv')
    expect(out.slice(0, 101)).toEqual(whole.stdout.trim().split('\n').slice(0, 101))
  }, 120_000)

  it('simulates rows out of time order and repeated timestamps in time order, keeping the input rows', () => {
    const lines = demandCsv(400).trim().split('\n')
    const rows = lines.slice(1)
    // rows 10 and 11 swapped, row 20 repeated
    const messy = [
      lines[0],
      ...rows.slice(0, 10),
      rows[11],
      rows[10],
      ...rows.slice(12, 21),
      rows[20],
      ...rows.slice(21),
    ]
    writeFileSync(join(dir, 'messy.csv'), `${messy.join('\n')}\n`)
    const r = reactiveSchedule('messy.csv')
    expect(r.status).toBe(0)
    expect(r.stderr).toMatch(
      /warning: .*messy\.csv: 1 row\(s\) out of time order and 1 repeated timestamp\(s\)/,
    )
    const out = r.stdout.trim().split('\n').slice(1)
    expect(out.map((l) => l.split(',')[0])).toEqual(messy.slice(1).map((l) => l.split(',')[0]))
    // every row gets the replicas its time gets in the clean series
    const clean = new Map(
      reactiveSchedule('demand.csv')
        .stdout.trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',') as [string, string]),
    )
    for (const l of out) expect(l.split(',')[1]).toBe(clean.get(l.split(',')[0]))
  }, 120_000)

  it('warns about empty and NaN demand, naming the file lines, and simulates them as unknown demand', () => {
    const lines = demandCsv(400).trim().split('\n')
    const cut = (i: number, v: string) => `${lines[i].split(',')[0]},${v}`
    // lines 6, 8 and 31 of the file (the header is line 1)
    const holes = lines.map((l, i) =>
      i === 5 ? cut(i, '') : i === 7 ? cut(i, 'NaN') : i === 30 ? cut(i, 'nan') : l,
    )
    writeFileSync(join(dir, 'holes.csv'), `${holes.join('\n')}\n`)
    const r = reactiveSchedule('holes.csv')
    expect(r.status).toBe(0)
    expect(r.stderr).toMatch(
      /warning: .*holes\.csv: 3 empty or NaN demand value\(s\), lines 6, 8, 31, simulated as rows of unknown demand/,
    )
    expect(r.stdout.trim().split('\n')).toHaveLength(401)
  }, 120_000)

  it('refuses negative demand and a file without any demand, naming the file and the line', () => {
    const lines = demandCsv(20).trim().split('\n')
    const neg = lines.map((l, i) => (i === 12 ? `${l.split(',')[0]},-3.5` : l))
    writeFileSync(join(dir, 'negative.csv'), `${neg.join('\n')}\n`)
    const r = reactiveSchedule('negative.csv')
    expect(r.status).toBe(1)
    expect(r.stderr).toBe(
      `${join(dir, 'negative.csv')}:13: demand -3.5 is negative; demand is requests per second ≥ 0: fix or remove the line\n`,
    )
    const empty = lines.map((l, i) => (i === 0 ? l : `${l.split(',')[0]},`))
    writeFileSync(join(dir, 'empty.csv'), `${empty.join('\n')}\n`)
    const e = reactiveSchedule('empty.csv')
    expect(e.status).toBe(1)
    expect(e.stderr).toMatch(/empty\.csv: every demand value is empty or NaN; nothing to simulate/)
  }, 120_000)

  it('reads CR line endings, epoch milliseconds and a capitalised header with extra columns, saying how it read the timestamps', () => {
    const rows = demandCsv(30)
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => `web,${Date.parse(l.split(',')[0])},${l.split(',')[1]}`)
    writeFileSync(join(dir, 'mac.csv'), `\ufeffHost,Timestamp,Value\r${rows.join('\r')}\r`)
    const r = vigil(
      'simulate',
      'autoscale',
      '--input',
      join(dir, 'mac.csv'),
      '--capacity-per-replica',
      '50',
      '--policy',
      'reactive',
      '--output',
      '-',
    )
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr.split('\n')[0]).toBe(
      `vigil simulate autoscale: ${join(dir, 'mac.csv')}: timestamps read as epoch milliseconds`,
    )
    const schedule = r.stdout.trim().split('\n')
    expect(schedule).toHaveLength(31)
    expect(schedule[1]).toMatch(/^\d{13},\d+$/)
  }, 120_000)

  it('names the file and its lines when the timestamps are irregular', () => {
    const lines = demandCsv(40).trim().split('\n')
    // line 21 half a minute late; lines 4 and 5 swapped, so time order and file order differ
    const odd = lines.map((l, i) => (i === 20 ? `2026-11-02T00:18:30.000Z,${l.split(',')[1]}` : l))
    ;[odd[3], odd[4]] = [odd[4], odd[3]]
    writeFileSync(join(dir, 'irregular.csv'), `${odd.join('\n')}\n`)
    const r = reactiveSchedule('irregular.csv')
    expect(r.status).toBe(1)
    expect(r.stderr).toMatch(
      /irregular\.csv: timestamps are irregular: the gap from line 20 to line 21 is 30s, not a multiple of the 60s interval/,
    )
  }, 120_000)

  it('checks that --output can be written before simulating, naming the flag, path and reason', () => {
    const out = join(dir, 'no-such-dir', 'schedule.csv')
    const r = reactiveSchedule('demand.csv', out)
    expect(r.status).toBe(1)
    expect(r.stderr).toBe(
      `--output ${out}: cannot write the file: directory ${join(dir, 'no-such-dir')} does not exist; choose another path\n`,
    )
    // refused at once: nothing simulated, no figures printed
    expect(r.stdout).toBe('')
  }, 120_000)

  it('rejects bad input with a message naming the flag', () => {
    const bad = (args: string[], re: RegExp) => {
      const r = vigil(
        'simulate',
        'autoscale',
        '--input',
        join(dir, 'demand.csv'),
        '--output',
        join(dir, 'x.csv'),
        ...args,
      )
      expect(r.status).toBe(2)
      expect(r.stderr).toMatch(re)
    }
    bad([], /--capacity-per-replica is required/)
    bad(['--capacity-per-replica', '0'], /--capacity-per-replica: expected requests per second > 0, got "0"/)
    bad(['--capacity-per-replica', '10', '--min', '5', '--max', '2'], /--min: 5 is above max 2/)
    bad(
      ['--capacity-per-replica', '10', '--target-utilization', '1.5'],
      /--target-utilization: expected a fraction in \(0, 1\]/,
    )
    bad(['--capacity-per-replica', '10', '--policy', 'magic'], /--policy: expected predictive or reactive/)
    bad(
      ['--capacity-per-replica', '10', '--stabilization', '5'],
      /--stabilization: give a unit, e.g. 5m or 5s, got "5"/,
    )
    const missing = vigil(
      'simulate',
      'autoscale',
      '--input',
      join(dir, 'nope.csv'),
      '--output',
      join(dir, 'x.csv'),
      '--capacity-per-replica',
      '10',
    )
    expect(missing.status).toBe(1)
    expect(missing.stderr).toMatch(/nope\.csv: cannot read input file/)
    expect(vigil('simulate', 'nothing').stderr).toMatch(
      /^simulate: unknown kind "nothing"; name one of: alerts, autoscale, policy\n/,
    )
  }, 120_000)
})
