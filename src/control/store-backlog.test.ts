import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SqliteStore, type StoredEvent } from '../store/index.js'
import { StoreBacklog } from './store-backlog.js'

const event = (i: number, payload: unknown = { i }): StoredEvent => ({
  atMs: 1_000 + i,
  kind: 'test',
  actor: 'control',
  subject: String(i),
  payload,
})

describe('StoreBacklog on a SQLite store that fills', () => {
  let store: SqliteStore
  const errors: { message: string; what: string }[] = []
  const dropping: number[] = []
  beforeEach(async () => {
    store = await SqliteStore.open({ path: ':memory:' })
    errors.length = 0
    dropping.length = 0
  })
  afterEach(() => store.close())

  const backlogOf = (maxRecords?: number) =>
    new StoreBacklog({
      maxRecords,
      onDropping: (x) => dropping.push(x.maxRecords),
      onError: (err, what) => errors.push({ message: err.message, what }),
    })
  /** subjects stored, in the order they were inserted */
  const stored = async () =>
    (await store.queryEvents({ kind: 'test', limit: 100_000 })).reverse().map((e) => Number(e.subject))
  /** records larger than a page: any batch of them needs new pages, which a full disk refuses */
  const many = (from: number, n: number) =>
    Array.from({ length: n }, (_, k) => event(from + k, { pad: 'x'.repeat(5_000) }))

  it('holds what the full store refuses and writes it in order once it takes writes, new records behind', async () => {
    const backlog = backlogOf()
    const write = backlog.sink('test events', (b: readonly StoredEvent[]) => store.appendEvents(b))
    expect(await write([event(0)])).toBe(true)
    store.limitPages(0)
    expect(await write(many(1, 50))).toBe(false)
    expect(await write(many(51, 50))).toBe(false)
    expect(backlog.waiting).toBe(100)
    await backlog.drain() // still full: nothing written, nothing lost
    expect(backlog.waiting).toBe(100)
    expect(await stored()).toEqual([0])
    store.limitPages(null)
    // a record written before the drain goes behind those held, not ahead of them
    expect(await write(many(101, 1))).toBe(false)
    await backlog.drain()
    expect(backlog.waiting).toBe(0)
    expect(await stored()).toEqual(Array.from({ length: 102 }, (_, i) => i))
    expect(await write([event(102)])).toBe(true)
    expect(errors).toEqual([])
    expect(backlog.dropped).toBe(0)
  })

  it('keeps at most maxRecords, drops the oldest, counts them and says so once per outage', async () => {
    const backlog = backlogOf(30)
    const write = backlog.sink('test events', (b: readonly StoredEvent[]) => store.appendEvents(b))
    store.limitPages(0)
    for (let i = 0; i < 5; i++) await write(many(i * 10, 10))
    expect(backlog.waiting).toBe(30)
    expect(backlog.dropped).toBe(20)
    expect(dropping).toEqual([30])
    store.limitPages(null)
    await backlog.drain()
    expect(await stored()).toEqual(Array.from({ length: 30 }, (_, i) => 20 + i))
    // a later outage that overflows says so again
    store.limitPages(0)
    for (let i = 0; i < 4; i++) await write(many(100 + i * 10, 10))
    expect(dropping).toEqual([30, 30])
    expect(backlog.dropped).toBe(30)
  })

  it('writes the good records of a held batch and drops, reporting, one the store refuses for a bug', async () => {
    const backlog = backlogOf()
    const write = backlog.sink('test events', (b: readonly StoredEvent[]) => store.appendEvents(b))
    const circular: Record<string, unknown> = {}
    circular.self = circular // JSON.stringify throws: a bug, not a full disk
    store.limitPages(0)
    expect(await write([...many(0, 20), event(20, circular), ...many(21, 20)])).toBe(false)
    store.limitPages(null)
    await backlog.drain()
    expect(backlog.waiting).toBe(0)
    expect(await stored()).toEqual(Array.from({ length: 41 }, (_, i) => i).filter((i) => i !== 20))
    expect(errors).toEqual([
      {
        message: expect.stringContaining('circular') as string,
        what: 'test events held while the store could not be written',
      },
    ])
  })

  it('never holds records refused for another reason than an unwritable store', async () => {
    const backlog = backlogOf()
    const write = backlog.sink('test events', (b: readonly StoredEvent[]) => store.appendEvents(b))
    const circular: Record<string, unknown> = {}
    circular.self = circular
    await expect(write([event(0, circular)])).rejects.toThrow(/circular/)
    await store.close()
    await expect(write([event(1)])).rejects.toMatchObject({ code: 'VGL_ERR_STORE_CLOSED' })
    expect(backlog.waiting).toBe(0)
  })

  it('refuses a maxRecords that is not a positive integer, naming it', () => {
    expect(() => new StoreBacklog({ maxRecords: 0 })).toThrow(/maxRecords must be a positive integer, got 0/)
  })
})
