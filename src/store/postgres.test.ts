import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { serviceAvailable } from '../../test/helpers/services.js'
import pg from 'pg'
import {
  expectUpgraded,
  legacyRows,
  MIGRATIONS_BEFORE_REFUSED,
  rollupOf,
  storeContract,
} from './store.contract.js'
import { POSTGRES_MIGRATIONS } from './migrations/postgres.js'
import { PostgresStore } from './postgres.js'

/** The local test database (trust auth; user postgres). */
export const PG_TEST_URL = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const up = await serviceAvailable('postgres')
const uniqueSchema = () => `vigil_test_${randomBytes(6).toString('hex')}`

describe.skipIf(!up)('PostgresStore', () => {
  storeContract('PostgresStore', async () => {
    const store = await PostgresStore.open({ url: PG_TEST_URL, schema: uniqueSchema() })
    return {
      store,
      cleanup: async () => {
        await store.dropSchema()
        await store.close()
      },
    }
  })

  it('migrates once even when two stores open the same schema together', async () => {
    const schema = uniqueSchema()
    const [a, b] = await Promise.all([
      PostgresStore.open({ url: PG_TEST_URL, schema }),
      PostgresStore.open({ url: PG_TEST_URL, schema }),
    ])
    try {
      await a.writeWindow([rollupOf('gw', { service: 's', route: '/r', env: 'e' }, 0, [1, 2])])
      expect(
        (await b.queryPoints({ service: 's', route: '/r', env: 'e' }, 0, 10_000, 'window'))[0].count,
      ).toBe(2)
    } finally {
      await a.dropSchema()
      await Promise.all([a.close(), b.close()])
    }
  })

  it('upgrades a schema from before the refused counters: its rows read 0 and merge with new ones', async () => {
    const schema = uniqueSchema()
    const client = new pg.Client({ connectionString: PG_TEST_URL })
    await client.connect()
    const old = rollupOf('gw-old', { service: 's', route: '/r', env: 'e' }, 20_000, [1, 2, 3], {
      statusClass: [0, 2, 0, 0, 1],
    })
    try {
      await client.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`)
      await client.query(
        'CREATE TABLE schema_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)',
      )
      for (const m of POSTGRES_MIGRATIONS.slice(0, MIGRATIONS_BEFORE_REFUSED)) {
        await client.query(m.sql)
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [m.id, m.name])
      }
      for (const [table, cols, values] of legacyRows(old))
        await client.query(
          `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
          values,
        )
    } finally {
      await client.end()
    }
    const store = await PostgresStore.open({ url: PG_TEST_URL, schema })
    try {
      await expectUpgraded(store, old)
    } finally {
      await store.dropSchema()
      await store.close()
    }
  })

  it('names the database when it cannot connect', async () => {
    await expect(
      PostgresStore.open({
        url: 'postgres://postgres@127.0.0.1:5432/vigil_no_such_db',
        schema: uniqueSchema(),
      }),
    ).rejects.toMatchObject({ code: 'VGL_ERR_STORE_OPEN' })
  })
})
