import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { serviceAvailable } from '../../test/helpers/services.js'
import { rollupOf, storeContract } from './store.contract.js'
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

  it('names the database when it cannot connect', async () => {
    await expect(
      PostgresStore.open({
        url: 'postgres://postgres@127.0.0.1:5432/vigil_no_such_db',
        schema: uniqueSchema(),
      }),
    ).rejects.toMatchObject({ code: 'VGL_ERR_STORE_OPEN' })
  })
})
