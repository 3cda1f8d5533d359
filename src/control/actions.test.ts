import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SqliteStore } from '../store/index.js'
import { ActionLog, type ActionInput } from './actions.js'
import { FencedLeadership, soleLeadership } from './leadership.js'

const input = (extra: Partial<ActionInput> = {}): ActionInput => ({
  kind: 'limits.multiplier',
  policy: 'forecast-pressure',
  mode: 'enforce',
  target: 'service:orders',
  before: { STD: 1 },
  after: { STD: 0.5 },
  reason: 'forecast upper band 1240 rps > budget 1000 rps',
  evidence: { forecast: 1240, budget: 1000 },
  ...extra,
})

describe('ActionLog', () => {
  let dir: string
  let store: SqliteStore
  let file: string
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-actions-'))
    store = await SqliteStore.open({ path: join(dir, 'v.db') })
    file = join(dir, 'sub', 'actions.jsonl')
  })
  afterEach(async () => {
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const lines = () =>
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; result: { status: string } })

  it('records, applies and settles an enforced action; the file gets it once final', async () => {
    const log = new ActionLog({
      store,
      leadership: await soleLeadership(store, 'me'),
      file,
      now: () => 1_000,
    })
    const applied: string[] = []
    const rec = await log.act(input(), async (r) => {
      applied.push(r.id)
      const [stored] = await store.queryActions()
      expect(stored.result.status).toBe('pending') // recorded before it is applied
    })
    expect(applied).toEqual([rec.id])
    expect(rec.result).toEqual({ status: 'ok', atMs: 1_000 })
    expect(rec.fencingToken).toBe(1)
    const [stored] = await store.queryActions()
    expect(stored).toEqual(rec)
    await log.flush()
    expect(lines()).toEqual([JSON.parse(JSON.stringify(rec))])
  })

  it('settles a failed apply as failed with its message, without throwing', async () => {
    const log = new ActionLog({ store, leadership: await soleLeadership(store, 'me') })
    const rec = await log.act(input(), async () => {
      throw new Error('actuator answered 503')
    })
    expect(rec.result).toMatchObject({ status: 'failed', detail: 'actuator answered 503' })
    expect((await store.queryActions())[0].result.status).toBe('failed')
  })

  it('records shadow actions without applying them', async () => {
    const log = new ActionLog({ store, leadership: await soleLeadership(store, 'me'), file })
    let applied = false
    const rec = await log.act(input({ mode: 'shadow' }), async () => {
      applied = true
    })
    expect(applied).toBe(false)
    expect(rec.result).toEqual({ status: 'shadow' })
    await log.flush()
    expect(lines().map((l) => l.result.status)).toEqual(['shadow'])
    expect((await log.actions({ mode: 'shadow' })).actions.map((a) => a.id)).toEqual([rec.id])
    expect((await log.actions({ mode: 'enforce' })).actions).toEqual([])
  })

  it('refuses to record, and never applies, on a follower', async () => {
    const follower = new FencedLeadership()
    follower.follow({ holder: 'other:1', adminUrl: 'http://10.0.0.2:8082', sinceMs: 0, fencingToken: 3 })
    const log = new ActionLog({ store, leadership: follower })
    let applied = false
    await expect(
      log.act(input(), async () => {
        applied = true
      }),
    ).rejects.toMatchObject({
      code: 'VGL_ERR_CONTROL_NOT_LEADER',
      message: expect.stringContaining('http://10.0.0.2:8082'),
    })
    expect(applied).toBe(false)
    expect(log.stats.refused).toBe(1)
    expect(await store.queryActions()).toEqual([])
  })

  it('refuses, and never applies, once another leader has raised the fence', async () => {
    const stale = await soleLeadership(store, 'old') // still believes it leads
    const log = new ActionLog({ store, leadership: stale })
    await store.advanceFence() // a successor took over while this one was paused
    let applied = false
    await expect(
      log.act(input(), async () => {
        applied = true
      }),
    ).rejects.toMatchObject({ code: 'VGL_ERR_STORE_FENCED' })
    expect(applied).toBe(false)
    expect(await store.queryActions()).toEqual([])
  })

  it('pages newest first with nextCursor, and rejects a cursor it did not issue', async () => {
    let t = 0
    const log = new ActionLog({ store, leadership: await soleLeadership(store, 'me'), now: () => ++t })
    for (let i = 0; i < 5; i++) await log.record(input({ mode: 'shadow', target: `service:s${i}` }))
    const p1 = await log.actions({ limit: 2 })
    expect(p1.actions.map((a) => a.target)).toEqual(['service:s4', 'service:s3'])
    const p2 = await log.actions({ limit: 2, cursor: p1.nextCursor! })
    expect(p2.actions.map((a) => a.target)).toEqual(['service:s2', 'service:s1'])
    const p3 = await log.actions({ limit: 2, cursor: p2.nextCursor! })
    expect(p3.actions.map((a) => a.target)).toEqual(['service:s0'])
    expect(p3.nextCursor).toBeNull()
    await expect(log.actions({ cursor: 'nonsense' })).rejects.toMatchObject({ code: 'VGL_ERR_CONTROL_QUERY' })
  })

  it('keeps a retried decision with the same id once', async () => {
    const log = new ActionLog({ store, leadership: await soleLeadership(store, 'me') })
    await log.record(input({ id: 'alert:fp1:1000:firing' }))
    await log.record(input({ id: 'alert:fp1:1000:firing' }))
    expect(await store.queryActions()).toHaveLength(1)
  })
})
