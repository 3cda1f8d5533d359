import { randomUUID } from 'node:crypto'
import { describe } from 'vitest'
import { serviceAvailable } from '../../test/helpers/services.js'
import { limitStoreContract } from './limit-store.contract.js'
import { RedisLimitStore } from './redis.js'

const up = await serviceAvailable('redis')

describe.skipIf(!up)('RedisLimitStore on 127.0.0.1:6379', () => {
  limitStoreContract('RedisLimitStore', async () => {
    const store = new RedisLimitStore({ url: 'redis://127.0.0.1:6379', commandTimeoutMs: 2000 })
    await store.ready()
    const prefix = `vigil-test:${randomUUID()}:`
    return {
      store,
      prefix,
      cleanup: async () => {
        const keys = await store.client.keys(`${prefix}*`)
        if (keys.length > 0) await store.client.del(...keys)
        await store.close()
      },
    }
  })
})
