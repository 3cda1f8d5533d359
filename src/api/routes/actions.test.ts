/** @module Tests of GET /api/actions and GET /api/control/leader over a real store and action log. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ActionLog } from '../../control/actions.js'
import { FencedLeadership, soleLeadership } from '../../control/leadership.js'
import { SqliteStore } from '../../store/index.js'
import { buildAdminApp } from '../server.js'
import { actionRoutes } from './actions.js'
import { leaderRoutes } from './leader.js'

const sources = {
  ready: () => true,
  routes: () => [],
  services: () => [],
  reload: async () => ({ ok: true as const, routes: 0 }),
}

describe('GET /api/actions', () => {
  let store: SqliteStore
  let log: ActionLog
  beforeEach(async () => {
    store = await SqliteStore.open({ path: ':memory:' })
    let t = 1_000
    log = new ActionLog({ store, leadership: await soleLeadership(store, 'me'), now: () => (t += 10) })
  })
  afterEach(() => store.close())

  it('filters by mode, policy, target, kind and time and pages with nextCursor', async () => {
    const base = { reason: 'r', evidence: { html: '<b>"x"</b>' } }
    await log.act(
      { ...base, kind: 'alert.firing', policy: 'errors', mode: 'enforce', target: 'orders|*|prod' },
      async () => {},
    )
    await log.record({
      ...base,
      kind: 'limits.multiplier',
      policy: 'pressure',
      mode: 'shadow',
      target: 'service:orders',
    })
    await log.record({
      ...base,
      kind: 'limits.multiplier',
      policy: 'pressure',
      mode: 'shadow',
      target: 'service:users',
    })
    const app = await buildAdminApp({
      token: 't',
      sources,
      env: {},
      plugins: [actionRoutes({ source: log })],
    })
    try {
      const all = (await app.inject('/api/actions')).json()
      expect(all.actions.map((a: { target: string }) => a.target)).toEqual([
        'service:users',
        'service:orders',
        'orders|*|prod',
      ])
      expect(all.nextCursor).toBeNull()
      expect(all.actions[2]).toMatchObject({
        kind: 'alert.firing',
        mode: 'enforce',
        result: { status: 'ok' },
        fencingToken: 1,
        evidence: { html: '<b>"x"</b>' },
      })
      const shadow = (
        await app.inject('/api/actions?mode=shadow&policy=pressure&target=service:orders')
      ).json()
      expect(shadow.actions).toHaveLength(1)
      const kind = (await app.inject('/api/actions?kind=alert.firing')).json()
      expect(kind.actions).toHaveLength(1)
      const time = (await app.inject('/api/actions?from=1025&to=1035')).json()
      expect(time.actions.map((a: { target: string }) => a.target)).toEqual(['service:orders'])
      const p1 = (await app.inject('/api/actions?limit=2')).json()
      expect(p1.actions).toHaveLength(2)
      const p2 = (await app.inject(`/api/actions?limit=2&cursor=${p1.nextCursor}`)).json()
      expect(p2.actions.map((a: { target: string }) => a.target)).toEqual(['orders|*|prod'])

      const limitFix = 'send limit as a whole number from 1 to 1000 (e.g. limit=100), or leave it out for 100'
      for (const [q, field, fix] of [
        ['mode=both', 'mode', 'send mode as one of shadow, enforce, or leave it out'],
        ['limit=0', 'limit', limitFix],
        ['limit=5000', 'limit', limitFix],
        ['from=soon', 'from', /^send from as ms since the epoch/],
        [
          'from=20&to=10',
          'from',
          'send a from earlier than to (ms since the epoch or ISO 8601), or leave one of them out',
        ],
        ['cursor=zzz', 'cursor', /^send the nextCursor of the previous page/],
      ] as const) {
        const bad = await app.inject(`/api/actions?${q}`)
        expect(bad.statusCode, q).toBe(400)
        expect(bad.json(), q).toMatchObject({ code: 'VGL_ERR_CONTROL_QUERY' })
        expect(bad.json().message, q).toContain(field)
        if (fix !== undefined) expect(bad.json().fix, q).toMatch(fix)
      }
      const doc = (await app.inject('/docs/json')).json()
      expect(doc.paths['/api/actions'].get.responses['200']).toBeDefined()
    } finally {
      await app.close()
    }
  })
})

describe('GET /api/control/leader', () => {
  it('says whether this process leads and who does', async () => {
    const l = new FencedLeadership()
    const app = await buildAdminApp({
      token: 't',
      sources,
      env: {},
      plugins: [leaderRoutes({ holder: 'host-b:2', leadership: l })],
    })
    try {
      expect((await app.inject('/api/control/leader')).json()).toEqual({
        self: 'host-b:2',
        leading: false,
        leader: null,
      })
      l.follow({ holder: 'host-a:1', adminUrl: 'http://10.0.0.1:8082', sinceMs: 5, fencingToken: 7 })
      expect((await app.inject('/api/control/leader')).json()).toMatchObject({
        leading: false,
        leader: { holder: 'host-a:1', adminUrl: 'http://10.0.0.1:8082', fencingToken: 7 },
      })
      l.lead(8, { holder: 'host-b:2', adminUrl: null, sinceMs: 9, fencingToken: null })
      expect((await app.inject('/api/control/leader')).json()).toMatchObject({
        leading: true,
        leader: { holder: 'host-b:2', fencingToken: 8 },
      })
    } finally {
      await app.close()
    }
  })
})
