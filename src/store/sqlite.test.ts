import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
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

  describe('restoreFile: the database file deleted underneath', () => {
    const s = { service: 's', route: '/r', env: 'e' }
    const W = 10_000
    let dir: string
    let path: string
    let store: SqliteStore
    const write = async (i: number) => {
      await store.writeWindow([rollupOf('gw', s, i * W, [1, 2])])
      await store.appendEvents([
        { atMs: i * W, kind: 'test', actor: 't', subject: String(i), payload: { i } },
      ])
    }
    /** what a fresh store at the path holds: windows and event subjects */
    const onDisk = async () => {
      const fresh = await SqliteStore.open({ path })
      try {
        const points = await fresh.queryPoints(s, 0, 100 * W, 'window')
        const events = await fresh.queryEvents({ kind: 'test', limit: 1000 })
        return {
          windows: points.map((p) => p.startMs / W),
          events: events.map((e) => Number(e.subject)).sort((a, b) => a - b),
        }
      } finally {
        await fresh.close()
      }
    }
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'vigil-store-'))
      path = join(dir, 'db', 'vigil.db')
      store = await SqliteStore.open({ path })
    })
    afterEach(async () => {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    })

    it('writes back what was written before and after the deletion, and goes on with the file at the path', async () => {
      for (let i = 0; i < 3; i++) await write(i)
      rmSync(path) // the WAL and shared-memory files beside it stay
      for (let i = 3; i < 6; i++) await write(i)
      const restoring = store.restoreFile()
      await write(6) // while the copy runs
      const { bytes } = await restoring
      expect(bytes).toBeGreaterThan(0)
      for (let i = 7; i < 9; i++) await write(i)
      const all = [0, 1, 2, 3, 4, 5, 6, 7, 8]
      expect(await onDisk()).toEqual({ windows: all, events: all }) // read while the store is open
      await store.close()
      expect(await onDisk()).toEqual({ windows: all, events: all })
      expect(readdirSync(dirname(path)).filter((f) => f.includes('restoring'))).toEqual([])
    })

    it('writes back a database whose WAL was deleted with it', async () => {
      for (let i = 0; i < 3; i++) await write(i)
      for (const f of readdirSync(dirname(path))) rmSync(join(dirname(path), f)) // vigil.db*
      await write(3)
      await store.restoreFile()
      await write(4)
      await store.close()
      expect(await onDisk()).toEqual({ windows: [0, 1, 2, 3, 4], events: [0, 1, 2, 3, 4] })
    })

    it('never overwrites a file put at the path, and restores once it is moved away', async () => {
      await write(0)
      rmSync(path)
      writeFileSync(path, 'not vigil')
      await expect(store.restoreFile()).rejects.toMatchObject({ code: 'EEXIST' })
      expect(readFileSync(path, 'utf8')).toBe('not vigil')
      await write(1) // still writable meanwhile
      renameSync(path, join(dir, 'moved-away'))
      await store.restoreFile()
      await write(2)
      await store.close()
      expect(await onDisk()).toEqual({ windows: [0, 1, 2], events: [0, 1, 2] })
    })

    it('refuses with VGL_ERR_STORE_CLOSED when the store closes while it copies, leaving no copy', async () => {
      await write(0)
      rmSync(path)
      const restoring = store.restoreFile()
      await store.close()
      await expect(restoring).rejects.toMatchObject({ code: 'VGL_ERR_STORE_CLOSED' })
      expect(readdirSync(dirname(path)).filter((f) => f.includes('restoring'))).toEqual([])
    })

    it('refuses while the folder is gone, without creating it, and restores once it is back', async () => {
      await write(0)
      rmSync(dirname(path), { recursive: true })
      await write(1)
      await expect(store.restoreFile()).rejects.toMatchObject({ code: 'ENOENT' })
      expect(existsSync(dirname(path))).toBe(false)
      await write(2)
      mkdirSync(dirname(path))
      await store.restoreFile()
      await store.close()
      expect(await onDisk()).toEqual({ windows: [0, 1, 2], events: [0, 1, 2] })
    })
  })
})
