import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  expectUpgraded,
  legacyRows,
  MIGRATIONS_BEFORE_REFUSED,
  rollupOf,
  storeContract,
} from './store.contract.js'
import { SqliteStore } from './sqlite.js'
import { openStore } from './open.js'
import { SQLITE_MIGRATIONS } from './migrations/sqlite.js'

storeContract('SqliteStore', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-store-'))
  const store = await SqliteStore.open({ path: join(dir, 'nested', 'vigil.db') })
  return {
    store,
    cleanup: async () => {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

describe('SqliteStore', () => {
  it('keeps data and migrations across reopen, in WAL mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-store-'))
    try {
      const path = join(dir, 'v.db')
      const a = await openStore({ kind: 'sqlite', path, retention: {} })
      await a.writeWindow([rollupOf('gw', { service: 's', route: '/r', env: 'e' }, 0, [1, 2, 3])])
      await a.close()
      const b = await openStore({ kind: 'sqlite', path, retention: {} })
      expect(
        (await b.queryPoints({ service: 's', route: '/r', env: 'e' }, 0, 10_000, 'window'))[0].count,
      ).toBe(3)
      expect((b as SqliteStore).path).toBe(path)
      await b.close()
      const Database = (await import('better-sqlite3')).default
      const db = new Database(path)
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
      expect(db.prepare('SELECT id, name FROM schema_migrations ORDER BY id').all()).toEqual(
        SQLITE_MIGRATIONS.map((m) => ({ id: m.id, name: m.name })),
      )
      db.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('upgrades a database from before the refused counters: its rows read 0 and merge with new ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-store-'))
    try {
      const path = join(dir, 'old.db')
      const Database = (await import('better-sqlite3')).default
      const db = new Database(path)
      db.exec(
        'CREATE TABLE schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL)',
      )
      for (const m of SQLITE_MIGRATIONS.slice(0, MIGRATIONS_BEFORE_REFUSED)) {
        db.exec(m.sql)
        db.prepare('INSERT INTO schema_migrations VALUES (?,?,?)').run(m.id, m.name, 0)
      }
      const old = rollupOf('gw-old', { service: 's', route: '/r', env: 'e' }, 20_000, [1, 2, 3], {
        statusClass: [0, 2, 0, 0, 1],
      })
      for (const [table, cols, values] of legacyRows(old))
        db.prepare(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(',')})`).run(
          ...values,
        )
      db.close()
      const store = await SqliteStore.open({ path })
      try {
        await expectUpgraded(store, old)
      } finally {
        await store.close()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses use after close with VGL_ERR_STORE_CLOSED', async () => {
    const s = await SqliteStore.open({ path: ':memory:' })
    await s.close()
    await expect(s.listSeries()).rejects.toMatchObject({ code: 'VGL_ERR_STORE_CLOSED' })
  })

  it('names the path when the file cannot be opened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-store-'))
    const notADir = join(dir, 'file')
    writeFileSync(notADir, 'x')
    try {
      await expect(SqliteStore.open({ path: join(notADir, 'vigil.db') })).rejects.toMatchObject({
        code: 'VGL_ERR_STORE_OPEN',
        message: expect.stringContaining(join(notADir, 'vigil.db')),
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
