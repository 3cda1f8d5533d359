import { afterEach, describe, expect, it } from 'vitest'
import { keyed, LiveHub, type LiveClient, type LiveEvent } from './live.js'

class FakeClient implements LiveClient {
  frames: string[] = []
  closed = false
  backlog = 0
  write(chunk: string): boolean {
    this.frames.push(chunk)
    return true
  }
  buffered(): number {
    return this.backlog
  }
  close(): void {
    this.closed = true
  }
  events(): Array<{ id: string; event: string; data: LiveEvent }> {
    return this.frames
      .filter((f) => f.startsWith('id: '))
      .map((f) => {
        const [id, event, data] = f.trim().split('\n')
        return { id: id.slice(4), event: event.slice(7), data: JSON.parse(data.slice(6)) as LiveEvent }
      })
  }
}

const hubs: LiveHub[] = []
afterEach(() => hubs.splice(0).forEach((h) => h.close()))

function setup() {
  const state = {
    mode: { defensive: false },
    series: [
      { key: 'a', t: 1, n: 5 },
      { key: 'b', t: 1, n: 7 },
    ],
    fail: false,
  }
  let now = 1_000
  const hub = new LiveHub({
    intervalMs: 60_000,
    now: () => now,
    sections: {
      mode: { kind: 'value', read: () => state.mode },
      series: keyed<{ key: string; t: number; n: number }>({
        read: async () => {
          if (state.fail) throw new Error('worker gone')
          return state.series
        },
        key: (s) => s.key,
        version: (s) => `${s.t}:${s.n}`,
      }),
    },
  })
  hubs.push(hub)
  return { hub, state, tick: () => ((now += 1000), hub.tick()) }
}

describe('LiveHub', () => {
  it('sends a snapshot on connect, then only what changed, batched per tick', async () => {
    const { hub, state, tick } = setup()
    const c = new FakeClient()
    await hub.connect(c)
    expect(c.frames[0]).toBe('retry: 2000\n\n')
    const [snap] = c.events()
    expect(snap.event).toBe('snapshot')
    expect(snap.data.set).toEqual({ mode: { defensive: false } })
    expect(snap.data.upsert.series).toHaveLength(2)

    await tick() // nothing changed: nothing sent
    expect(c.events()).toHaveLength(1)

    state.series = [{ key: 'a', t: 2, n: 6 }] // a moved on, b gone
    state.mode = { defensive: true }
    await tick()
    const [, delta] = c.events()
    expect(delta.event).toBe('delta')
    expect(delta.data.set).toEqual({ mode: { defensive: true } })
    expect(delta.data.upsert).toEqual({ series: [{ key: 'a', t: 2, n: 6 }] })
    expect(delta.data.remove).toEqual({ series: ['b'] })
    expect(delta.id).toBe(`${hub.epoch}-${delta.data.seq}`)
  })

  it('replays missed deltas after Last-Event-ID from this process, a snapshot otherwise', async () => {
    const { hub, state, tick } = setup()
    const first = new FakeClient()
    await hub.connect(first)
    const lastSeen = first.events()[0].id
    hub.disconnect(first)
    // the dashboard is away while two windows close (the hub keeps a client so it ticks)
    const other = new FakeClient()
    await hub.connect(other)
    state.series = [{ key: 'a', t: 2, n: 1 }, state.series[1]]
    await tick()
    state.series = [{ key: 'a', t: 3, n: 1 }, state.series[1]]
    await tick()

    const back = new FakeClient()
    await hub.connect(back, lastSeen)
    const evs = back.events()
    expect(evs.map((e) => e.event)).toEqual(['delta', 'delta'])
    expect(evs.map((e) => e.data.upsert.series?.[0])).toEqual([
      { key: 'a', t: 2, n: 1 },
      { key: 'a', t: 3, n: 1 },
    ])
    expect(hub.stats.replays).toBe(1)

    const restarted = new FakeClient()
    await hub.connect(restarted, `otherepoch-${evs[1].data.seq}`)
    expect(restarted.events().map((e) => e.event)).toEqual(['snapshot'])
    const garbage = new FakeClient()
    await hub.connect(garbage, 'not an id')
    expect(garbage.events().map((e) => e.event)).toEqual(['snapshot'])
  })

  it('sends a snapshot when the missed deltas are no longer kept', async () => {
    const { state } = setup()
    let now = 0
    const hub = new LiveHub({
      replay: 2,
      intervalMs: 60_000,
      now: () => now,
      sections: { v: { kind: 'value', read: () => state.mode } },
    })
    hubs.push(hub)
    const c = new FakeClient()
    await hub.connect(c)
    const seen = c.events()[0].id
    for (let i = 0; i < 4; i++) {
      state.mode = { defensive: i % 2 === 0 }
      now += 1000
      await hub.tick()
    }
    const late = new FakeClient()
    await hub.connect(late, seen)
    expect(late.events().map((e) => e.event)).toEqual(['snapshot'])
  })

  it('keeps a failing section at its last value and says so', async () => {
    const { hub, state, tick } = setup()
    const c = new FakeClient()
    await hub.connect(c)
    state.fail = true
    await tick()
    const delta = c.events()[1].data
    expect(delta.errors).toEqual({ series: 'worker gone' })
    expect(delta.remove).toEqual({})
    state.fail = false
    await tick()
    expect(c.events()[2].data.errors).toBeUndefined()
    const late = new FakeClient()
    await hub.connect(late)
    expect(late.events()[0].data.upsert.series).toHaveLength(2)
  })

  it('drops a client that falls far behind; ends every stream on close', async () => {
    const { hub, state, tick } = setup()
    const slow = new FakeClient()
    const fast = new FakeClient()
    await hub.connect(slow)
    await hub.connect(fast)
    slow.backlog = 64 * 1024 * 1024
    state.mode = { defensive: true }
    await tick()
    expect(slow.closed).toBe(true)
    expect(hub.stats.dropped).toBe(1)
    expect(hub.clients).toBe(1)
    hub.close()
    expect(fast.closed).toBe(true)
    expect(hub.clients).toBe(0)
  })

  it('reads nothing while nobody listens', async () => {
    let reads = 0
    const hub = new LiveHub({
      intervalMs: 10,
      sections: { v: { kind: 'value', read: () => ++reads } },
    })
    hubs.push(hub)
    await new Promise((r) => setTimeout(r, 50))
    expect(reads).toBe(0)
    const c = new FakeClient()
    await hub.connect(c)
    await new Promise((r) => setTimeout(r, 60))
    expect(reads).toBeGreaterThan(1)
    hub.disconnect(c)
    const after = reads
    await new Promise((r) => setTimeout(r, 50))
    expect(reads).toBe(after)
  })
})
