import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { runCli } from '../../../test/helpers/cli.js'
import { serviceAvailable } from '../../../test/helpers/services.js'
import type { ReplayRuleSummary } from '../../control/alert-replay.js'
import { formatReport } from './simulate-alerts.js'

const PG_TEST_URL = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const pgUp = await serviceAvailable('postgres')

const T0 = Date.UTC(2026, 11, 7, 13, 42)
const rule: ReplayRuleSummary = {
  rule: 'errors',
  kind: 'error-ratio',
  mode: 'enforce',
  firings: 0,
  pages: 0,
  series: 0,
  firingMs: 0,
}

describe('formatReport (vigil simulate alerts)', () => {
  it('says when the store held no window over the range, naming it, rather than a table of zeros alone', () => {
    // what a newcomer gets replaying `vigil demo` with examples/demo.yaml after the run
    const empty = { fromMs: T0, toMs: T0 + 600_000, windows: 0, rules: [rule], firings: [] }
    const text = formatReport(empty, './data/demo.db')
    expect(text.split('\n')[1]).toBe(
      'no window is stored in ./data/demo.db over that range: check that --config names the store the run wrote' +
        ' (vigil demo keeps its data in a temporary directory, removed at the end unless --keep-data;' +
        ' set VIGIL_DEMO_DATA to that directory for examples/demo.yaml)',
    )
    expect(text).toMatch(/^errors +error-ratio +enforce +0 +0 +0 +0s$/m)
  })

  it('adds no note when windows were replayed', () => {
    const text = formatReport({ fromMs: T0, toMs: T0 + 600_000, windows: 893, rules: [rule], firings: [] })
    expect(text.split('\n').slice(0, 2)).toEqual([
      'alert rules replayed over 2026-12-07T13:42:00.000Z .. 2026-12-07T13:52:00.000Z (893 windows)',
      '',
    ])
    expect(text).not.toMatch(/no window is stored/)
  })
})

describe('vigil simulate alerts and policy on a store that does not exist', () => {
  const config = (store: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-sim-missing-'))
    const file = join(dir, 'vigil.yaml')
    writeFileSync(
      file,
      [
        'services: { api: { targets: ["http://127.0.0.1:9"] } }',
        'routes: [ { path: /, service: api } ]',
        `store: ${store}`,
        '',
      ].join('\n'),
    )
    return { dir, file }
  }

  it('exits 1 naming the missing SQLite file and how to get one, and creates neither it nor its folder', async () => {
    const { dir, file } = config('{ kind: sqlite, path: ./data/demo.db }')
    const cwd = process.cwd()
    process.chdir(dir)
    try {
      for (const argv of [
        ['simulate', 'alerts', '--config', file, '--from', '-1h', '--to', 'now'],
        ['simulate', 'policy', '--name', 'anomaly-pressure', '--config', file, '--from', '-1h'],
      ]) {
        const r = await runCli(...argv)
        expect(r.code, r.err).toBe(1)
        expect(r.out).toBe('')
        expect(r.err).toBe(
          `no store at ${join(dir, 'data/demo.db')} (store.path): vigil simulate ${argv[1]} reads the history a running Vigil stored and creates no store; ` +
            `run Vigil with this config first (vigil start --config ${file}), or point the store of ${file} at one a run wrote ` +
            '(vigil demo --keep-data prints its data directory; VIGIL_DEMO_DATA=DIR points examples/demo.yaml there)\n',
        )
      }
      expect(existsSync(join(dir, 'data'))).toBe(false)
    } finally {
      process.chdir(cwd)
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it.skipIf(!pgUp)(
    'names the PostgreSQL schema that holds no Vigil tables, and leaves it uncreated',
    async () => {
      const schema = `vigil_sim_missing_${process.pid}`
      const { dir, file } = config(`{ kind: postgres, url: "${PG_TEST_URL}", schema: ${schema} }`)
      try {
        const r = await runCli('simulate', 'alerts', '--config', file, '--from', '-1h', '--to', 'now')
        expect(r.code, r.err).toBe(1)
        expect(r.err).toMatch(
          new RegExp(
            `^no store at schema "${schema}" of postgres://postgres@127\\.0\\.0\\.1:5432/test \\(store\\.url, store\\.schema\\): it holds no Vigil tables: vigil simulate alerts reads the history`,
          ),
        )
        const client = new pg.Client({ connectionString: PG_TEST_URL })
        await client.connect()
        try {
          const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
          expect(found.rowCount).toBe(0)
        } finally {
          await client.end()
        }
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )
})
