import { afterEach, describe, expect, it } from 'vitest'
import { encodeAuditEvent, type AuditEvent } from '../audit.js'
import { MemoryBus } from '../bus/index.js'
import { SqliteStore, type Store } from '../store/index.js'
import { AuditIngest, auditSource } from './audit.js'

const SUBJECT = 'test.audit'
const event = (id: string, atMs: number, over: Partial<AuditEvent> = {}): AuditEvent & { id: string } => ({
  id,
  at: new Date(atMs).toISOString(),
  kind: 'limits.tier.update',
  actor: 'ops',
  subject: 'STD',
  before: { ratePerSec: 10 },
  after: { ratePerSec: 5 },
  reason: 'test',
  ...over,
})
const T0 = Date.UTC(2026, 0, 1)

async function until(check: () => boolean | Promise<boolean>, ms = 3_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('AuditIngest and auditSource', () => {
  const open: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c()
  })

  async function setup(ackWaitMs?: number) {
    const store: Store = await SqliteStore.open({ path: ':memory:' })
    const bus = new MemoryBus()
    const errors: string[] = []
    const ingest = new AuditIngest({
      store,
      bus,
      subject: SUBJECT,
      durable: 'test-audit',
      onError: (e, what) => errors.push(`${what}: ${e.message}`),
      ...(ackWaitMs !== undefined ? { ackWaitMs } : {}),
    })
    open.push(
      () => store.close(),
      () => bus.close(),
      () => ingest.stop(),
    )
    await ingest.start()
    return { store, bus, ingest, errors }
  }

  it('stores each event once, even when the bus delivers it twice, and pages through them', async () => {
    const { store, bus, ingest } = await setup()
    for (let i = 0; i < 5; i++) await bus.publish(SUBJECT, encodeAuditEvent(event(`e${i}`, T0 + i)))
    await bus.publish(SUBJECT, encodeAuditEvent(event('e0', T0)))
    await until(() => ingest.stats.stored === 6)
    const source = auditSource(store)
    const page1 = await source.audit({ limit: 2 })
    expect(page1.events.map((e) => e.id)).toEqual(['e4', 'e3'])
    const page2 = await source.audit({ limit: 2, cursor: page1.nextCursor! })
    expect(page2.events.map((e) => e.id)).toEqual(['e2', 'e1'])
    const page3 = await source.audit({ limit: 2, cursor: page2.nextCursor! })
    expect(page3).toEqual({ events: [expect.objectContaining({ id: 'e0', atMs: T0 })], nextCursor: null })
    await expect(source.audit({ cursor: 'nope' })).rejects.toMatchObject({ code: 'VGL_ERR_CONTROL_QUERY' })
  })

  it('acks nothing while the store fails and stores the events once it is back', async () => {
    const { store, bus, ingest, errors } = await setup()
    const real = store.appendAudit.bind(store)
    let fail = true
    store.appendAudit = async (es) => {
      if (fail) throw new Error('database is locked')
      return real(es)
    }
    await bus.publish(SUBJECT, encodeAuditEvent(event('x1', T0)))
    await until(() => ingest.stats.writeErrors > 0)
    expect(errors[0]).toContain('database is locked')
    fail = false
    // redelivered by the bus after the nak delay (1 s)
    await until(() => ingest.stats.stored === 1, 5_000)
    expect((await store.queryAudit()).map((e) => e.id)).toEqual(['x1'])
  })

  it('keeps the events of a write slower than the ack wait, and those behind it, from coming back', async () => {
    const ACK_WAIT = 300
    const { store, bus, ingest } = await setup(ACK_WAIT)
    const real = store.appendAudit.bind(store)
    store.appendAudit = async (es) => {
      await new Promise((r) => setTimeout(r, 4 * ACK_WAIT))
      return real(es)
    }
    await bus.publish(SUBJECT, encodeAuditEvent(event('slow1', T0)))
    await new Promise((r) => setTimeout(r, ACK_WAIT)) // the first write is under way
    await bus.publish(SUBJECT, encodeAuditEvent(event('slow2', T0 + 1)))
    await until(() => ingest.stats.stored >= 2, 10_000)
    await new Promise((r) => setTimeout(r, 3 * ACK_WAIT)) // a redelivery would be stored by now
    expect(ingest.stats.stored).toBe(2)
    expect(bus.depth(SUBJECT, 'test-audit')).toBe(0)
    expect((await store.queryAudit()).map((e) => e.id).sort()).toEqual(['slow1', 'slow2'])
  })

  it('acks and counts a message that cannot be decoded, so it never blocks the rest', async () => {
    const { store, bus, ingest, errors } = await setup()
    await bus.publish(SUBJECT, new TextEncoder().encode('{"v":9}'))
    await bus.publish(SUBJECT, encodeAuditEvent(event('ok', T0)))
    await until(() => ingest.stats.stored === 1)
    expect(ingest.stats.decodeErrors).toBe(1)
    expect(errors[0]).toMatch(/^decode: .*unknown version 9/)
    expect((await store.queryAudit()).map((e) => e.id)).toEqual(['ok'])
  })
})
