/**
 * @module The labelled development set of real series (`vigil eval detect --dev-dir DIR`): reads
 * `data/<category>/<file>.csv`, `labels/combined_windows.json` and `config/profiles.json` from DIR
 * (never copied into the repository), scores every file online with the detector `vigil detect`
 * runs, and reports the three window-scoring profiles for half A, half B and the whole set.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { scoreSeries } from '../detect/index.js'
import {
  DEFAULT_PROFILES,
  PROFILE_NAMES,
  labelFile,
  scoreCorpus,
  type LabelledFile,
  type ProfileName,
  type ProfileResult,
  type ScoringProfile,
} from './nab-score.js'

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/**
 * The half a file belongs to: within each category folder the files are ordered by the FNV-1a hash
 * of their base name (ties by name) and the first ⌈n/2⌉ form half A, the rest half B. Stable under
 * renames elsewhere, independent of the detector, and balanced per category.
 */
export function splitHalves(relPaths: readonly string[]): Map<string, 'A' | 'B'> {
  const byCat = new Map<string, string[]>()
  for (const rel of relPaths) {
    const cut = rel.lastIndexOf('/')
    const cat = cut < 0 ? '' : rel.slice(0, cut)
    let list = byCat.get(cat)
    if (list === undefined) byCat.set(cat, (list = []))
    list.push(rel)
  }
  const half = new Map<string, 'A' | 'B'>()
  for (const list of byCat.values()) {
    const keyed = list.map((rel) => ({ rel, h: fnv1a(rel.slice(rel.lastIndexOf('/') + 1)) }))
    keyed.sort((a, b) => a.h - b.h || (a.rel < b.rel ? -1 : 1))
    const cutAt = Math.ceil(keyed.length / 2)
    keyed.forEach((k, i) => half.set(k.rel, i < cutAt ? 'A' : 'B'))
  }
  return half
}

/** Epoch ms of `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC) or ISO 8601; NaN when unreadable. */
function parseTime(text: string): number {
  const t = text.trim().replace(' ', 'T')
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(t) ? t : `${t}Z`)
}

export interface DevFile {
  readonly rel: string
  readonly half: 'A' | 'B'
  readonly timesMs: number[]
  readonly values: number[]
  readonly labels: LabelledFile
}

function readSeries(path: string): { timesMs: number[]; values: number[] } {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/)
  const head = lines[0].split(',').map((h) => h.trim())
  const it = head.indexOf('timestamp')
  const iv = head.indexOf('value')
  if (it < 0 || iv < 0) throw new Error(`${path}: header needs timestamp,value, got ${lines[0]}`)
  const timesMs: number[] = []
  const values: number[] = []
  for (let i = 1; i < lines.length; i++) {
    if (lines[i].trim() === '') continue
    const cells = lines[i].split(',')
    const t = parseTime(cells[it] ?? '')
    if (Number.isNaN(t)) throw new Error(`${path}:${i + 1}: unreadable timestamp "${cells[it]}"`)
    timesMs.push(t)
    values.push(cells[iv] === undefined || cells[iv].trim() === '' ? NaN : Number(cells[iv]))
  }
  return { timesMs, values }
}

function listCsv(dir: string, prefix = ''): string[] {
  const out: string[] = []
  for (const name of readdirSync(join(dir, prefix))) {
    const rel = prefix === '' ? name : `${prefix}/${name}`
    if (statSync(join(dir, rel)).isDirectory()) out.push(...listCsv(dir, rel))
    else if (name.endsWith('.csv')) out.push(rel)
  }
  return out.sort()
}

/** Reads the development set: files in sorted path order, labelled, each assigned to a half. */
export function loadDevSet(dir: string): { files: DevFile[]; profiles: Record<ProfileName, ScoringProfile> } {
  const dataDir = join(dir, 'data')
  const labelPath = join(dir, 'labels', 'combined_windows.json')
  let windows: Record<string, [string, string][]>
  try {
    windows = JSON.parse(readFileSync(labelPath, 'utf8')) as Record<string, [string, string][]>
  } catch (err) {
    throw new Error(
      `development set not found under ${dir}: need data/ and labels/combined_windows.json (${(err as Error).message})`,
    )
  }
  const rels = listCsv(dataDir)
  const missing = Object.keys(windows).filter((r) => !rels.includes(r))
  if (missing.length > 0)
    throw new Error(`${labelPath}: labels name files not in data/: ${missing.slice(0, 5).join(', ')}`)
  const halves = splitHalves(rels)
  const files = rels.map((rel): DevFile => {
    const { timesMs, values } = readSeries(join(dataDir, rel))
    const rowAt = new Map<number, number>()
    timesMs.forEach((t, i) => {
      if (!rowAt.has(t)) rowAt.set(t, i)
    })
    const spans = (windows[rel] ?? []).map(([a, b]): [number, number] => {
      const ia = rowAt.get(parseTime(a))
      const ib = rowAt.get(parseTime(b))
      if (ia === undefined || ib === undefined) throw new Error(`${rel}: window ${a}..${b} not on a row`)
      return [ia, ib]
    })
    return {
      rel,
      half: halves.get(rel) as 'A' | 'B',
      timesMs,
      values,
      labels: labelFile(rel, values.length, spans),
    }
  })
  return { files, profiles: readProfiles(join(dir, 'config', 'profiles.json')) }
}

function readProfiles(path: string): Record<ProfileName, ScoringProfile> {
  let raw: Record<string, { CostMatrix: { tpWeight: number; fpWeight: number; fnWeight: number } }>
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as typeof raw
  } catch {
    return { ...DEFAULT_PROFILES }
  }
  const out = {} as Record<ProfileName, ScoringProfile>
  for (const name of PROFILE_NAMES) {
    const cm = raw[name]?.CostMatrix
    out[name] =
      cm === undefined ? DEFAULT_PROFILES[name] : { tp: cm.tpWeight, fp: cm.fpWeight, fn: cm.fnWeight }
  }
  return out
}

/** A score as `vigil detect` writes it (6 decimals), so the thresholds match a scored CSV's. */
function asWritten(x: number): number {
  return x >= 1e-4 || x === 0 ? Number(x.toFixed(6)) : Number(x.toPrecision(7))
}

export interface DevReport {
  readonly detector: string
  readonly rows: number
  readonly cpuSeconds: number
  readonly sets: readonly {
    set: 'A' | 'B' | 'whole'
    files: number
    result: Record<ProfileName, ProfileResult>
  }[]
}

/** Runs one detector over every file of the set and scores halves A, B and the whole. */
export function evaluateDevSet(
  dev: { files: readonly DevFile[]; profiles: Record<ProfileName, ScoringProfile> },
  detector: string,
  seed = 42,
): DevReport {
  const cpu0 = process.cpuUsage()
  const scores = dev.files.map((f) =>
    Array.from(scoreSeries(f.values, f.timesMs, { detector, seed }), asWritten),
  )
  const cpu = process.cpuUsage(cpu0)
  const sets = (['A', 'B', 'whole'] as const).map((set) => {
    const pick = dev.files.map((f, i) => ({ f, i })).filter(({ f }) => set === 'whole' || f.half === set)
    return {
      set,
      files: pick.length,
      result: scoreCorpus(
        pick.map(({ f }) => f.labels),
        pick.map(({ i }) => scores[i]),
        dev.profiles,
      ),
    }
  })
  return {
    detector,
    rows: dev.files.reduce((n, f) => n + f.values.length, 0),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    sets,
  }
}

const cell = (r: ProfileResult): string =>
  `${r.score.toFixed(1)} | ${r.windowsDetected}/${r.windows} | ${r.falseRows}`

/** The reports as a Markdown table: per detector and set, each profile's score, windows found and false rows. */
export function formatDevReport(reports: readonly DevReport[], dir: string): string {
  const lines = [
    `Development set ${dir}: files split into half A / half B by the FNV-1a hash of the file name within each folder; one threshold per profile and set.`,
    '',
    '| detector | set | files | standard | found | false rows | low FP | found | false rows | low FN | found | false rows | points / CPU-s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const r of reports)
    for (const s of r.sets)
      lines.push(
        `| ${r.detector} | ${s.set} | ${s.files} | ${PROFILE_NAMES.map((p) => cell(s.result[p])).join(' | ')} | ${s.set === 'whole' ? Math.round(r.rows / r.cpuSeconds) : ''} |`,
      )
  return `${lines.join('\n')}\n`
}
