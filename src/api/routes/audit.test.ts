import Fastify from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { auditSource } from '../../control/audit.js'
import { SqliteStore } from '../../store/index.js'
import { auditRoutes } from './audit.js'

const T0 = Date.UTC(2026, 0, 1)
const store = await SqliteStore.open({ path: ':memory:' })
await store.appendAudit(
  [
    ['e1', 0, 'limits.tier.update', 'alice'],
    ['e2', 1_000, 'limits.key.create', 'bob'],
    ['e3', 2_000, 'limits.key.revoke', 'alice'],
  ].map(([id, at, kind, actor]) => ({
    id: id as string,
    atMs: T0 + (at as number),
    kind: kind as string,
    actor: actor as string,
    subject: 's',
    before: null,
    after: { n: 1 },
    reason: 'why',
  })),
)
const app = Fastify()
await app.register(auditRoutes({ source: auditSource(store) }))
afterAll(async () => {
  await app.close()
  await store.close()
})

const get = async (qs: string) => app.inject({ method: 'GET', url: `/api/audit${qs}` })

describe('GET /api/audit', () => {
  it('filters by actor, kind (exact or prefix) and time, newest first, in pages', async () => {
    const ids = async (qs: string) =>
      ((await get(qs)).json().events as Array<{ id: string }>).map((e) => e.id)
    expect(await ids('')).toEqual(['e3', 'e2', 'e1'])
    expect(await ids('?actor=alice')).toEqual(['e3', 'e1'])
    expect(await ids('?kind=limits.key.*')).toEqual(['e3', 'e2'])
    expect(await ids(`?from=${new Date(T0 + 1_000).toISOString()}&to=${T0 + 2_000}`)).toEqual(['e2'])
    const first = (await get('?limit=2')).json()
    expect(first.nextCursor).toEqual(expect.any(String))
    expect(await ids(`?limit=2&cursor=${first.nextCursor}`)).toEqual(['e1'])
    expect((await get('')).json().events[0]).toEqual({
      id: 'e3',
      atMs: T0 + 2_000,
      kind: 'limits.key.revoke',
      actor: 'alice',
      subject: 's',
      before: null,
      after: { n: 1 },
      reason: 'why',
    })
  })

  it('names a bad parameter with a 400 problem', async () => {
    for (const qs of ['?limit=0', '?from=yesterday', `?from=${T0 + 5}&to=${T0}`, '?cursor=zzz']) {
      const r = await get(qs)
      expect(r.statusCode, qs).toBe(400)
      expect(r.headers['content-type']).toContain('application/problem+json')
      expect(r.json().code).toBe('VGL_ERR_CONTROL_QUERY')
    }
  })
})
