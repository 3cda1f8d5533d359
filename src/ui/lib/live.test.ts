import { describe, expect, it } from 'vitest'

// the module reads the remembered session when it loads; node has no web storage
const storage = () => {
  const memory = new Map<string, string>()
  return {
    getItem: (k: string) => memory.get(k) ?? null,
    setItem: (k: string, v: string) => memory.set(k, v),
    removeItem: (k: string) => memory.delete(k),
  }
}
Object.assign(globalThis, { sessionStorage: storage(), localStorage: storage() })
const { itemKey, LiveStore } = await import('./live.js')

describe('the live store', () => {
  const anomaly = (metric: string) => ({ id: `shop|*|demo#${metric}#1000`, key: 'shop|*|demo', metric })

  it('keys an item by its id, and a series (no id) by its key', () => {
    expect(itemKey(anomaly('p50'))).toBe('shop|*|demo#p50#1000')
    expect(itemKey({ key: 'shop|*|demo', rate: 3 })).toBe('shop|*|demo')
  })

  it('keeps every anomaly open on one series, and removes one by its id', () => {
    const store = new LiveStore()
    const t = 1_000
    store.apply({
      seq: 1,
      t,
      snapshot: true,
      set: {},
      upsert: { anomalies: [anomaly('p50'), anomaly('p95')] },
      remove: {},
    })
    expect(store.items<{ metric: string }>('anomalies').map((a) => a.metric)).toEqual(['p50', 'p95'])
    store.apply({
      seq: 2,
      t,
      snapshot: false,
      set: {},
      upsert: {},
      remove: { anomalies: [anomaly('p50').id] },
    })
    expect(store.items<{ metric: string }>('anomalies').map((a) => a.metric)).toEqual(['p95'])
  })

  it('reads a section the server could not read (null) as absent', () => {
    const store = new LiveStore()
    store.apply({
      seq: 1,
      t: 1_000,
      snapshot: true,
      set: { learning: null, limits: { tiers: {} } },
      upsert: {},
      remove: {},
      errors: { learning: 'this control plane does not lead' },
    })
    expect(store.value('learning')).toBeUndefined()
    expect(store.value('limits')).toEqual({ tiers: {} })
  })

  it('forgets a section error once an event comes without it (a standby that took the lead)', () => {
    const store = new LiveStore()
    const event = (seq: number, errors?: Record<string, string>) => ({
      seq,
      t: 1_000 * seq,
      snapshot: seq === 1,
      set: {},
      upsert: {},
      remove: {},
      ...(errors !== undefined ? { errors } : {}),
    })
    store.apply(event(1, { anomalies: 'this control plane does not lead' }))
    store.apply(event(2, { anomalies: 'this control plane does not lead' }))
    expect(Object.keys(store.errors)).toEqual(['anomalies'])
    store.apply(event(3))
    expect(store.errors).toEqual({})
  })
})
