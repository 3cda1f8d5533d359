import { describe, expect, it } from 'vitest'
import { StoreAuditLog } from './audit.js'
import { SqliteStore } from './sqlite.js'

describe('StoreAuditLog', () => {
  it('lands audit events in the events table, in order', async () => {
    const store = await SqliteStore.open({ path: ':memory:' })
    const log = new StoreAuditLog(store)
    log.record({
      at: '2026-01-01T00:00:00.000Z',
      kind: 'limits.tier.update',
      actor: 'admin',
      subject: 'free',
      before: { ratePerSec: 10 },
      after: { ratePerSec: 20 },
      reason: 'launch',
    })
    log.record({
      at: '2026-01-01T00:00:01.000Z',
      kind: 'limits.key.revoke',
      actor: 'admin',
      subject: 'k1',
      before: null,
      after: null,
      reason: '',
    })
    await log.flush()
    const events = await store.queryEvents()
    expect(events.map((e) => e.kind)).toEqual(['limits.key.revoke', 'limits.tier.update'])
    expect(events[1]).toMatchObject({
      atMs: Date.UTC(2026, 0, 1),
      actor: 'admin',
      subject: 'free',
      payload: { before: { ratePerSec: 10 }, after: { ratePerSec: 20 }, reason: 'launch' },
    })
    await store.close()
  })
})
