/** @module A SQLite store whose disk is full: SQLite's page cap, with the free room in its pages used up. */
import type { SqliteStore } from '../../src/store/index.js'

/**
 * Caps the store at its current pages and fills the room left in them with small rows (each
 * table has pages of its own: `write` adds one row to the table the test writes, by default an
 * event of kind `filler`), so that the next write there fails with SQLITE_FULL as on a full
 * disk. `store.limitPages(null)`: space is back.
 */
export async function fillUp(
  store: SqliteStore,
  write: (i: number) => Promise<unknown> = (i) =>
    store.appendEvents([{ atMs: 0, kind: 'filler', actor: 'test', subject: String(i), payload: null }]),
): Promise<void> {
  store.limitPages(0)
  for (let i = 0; ; i++) {
    try {
      await write(i)
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_FULL') return
      throw err
    }
  }
}
