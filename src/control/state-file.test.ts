/** @module Tests of reading a detector state file: its typed arrays own their buffers. */
import { serialize } from 'node:v8'
import { describe, expect, it } from 'vitest'
import { LiveAnomalies, type LiveAnomaliesSnapshot } from './anomalies.js'
import { SqliteStore } from '../store/index.js'
import { rollupOf } from '../store/store.contract.js'
import { toSeriesPoint } from './points.js'
import { readStateFile } from './state-file.js'

const W = 10_000
const route = { service: 'shop', route: '/cart', env: 'prod' }

/** every typed array reachable from `v` */
function typedArrays(v: unknown, out: ArrayBufferView[] = []): ArrayBufferView[] {
  if (ArrayBuffer.isView(v)) out.push(v)
  else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) typedArrays(x, out)
  return out
}

describe('readStateFile', () => {
  it('restores the snapshot, each typed array with a buffer of its own (not a view of the file)', async () => {
    const store = await SqliteStore.open({ path: ':memory:' })
    const live = new LiveAnomalies({ stepMs: W, startedAtMs: 0 })
    for (let i = 0; i < 20; i++) {
      const window = await store.writeWindow([rollupOf('gw1', route, i * W, [40 + (i % 5), 70])])
      for (const p of window) live.hook(p.series, toSeriesPoint(p), { correction: false })
    }
    await store.close()
    const snap = live.snapshot()
    const read = readStateFile(serialize(snap)) as LiveAnomaliesSnapshot
    const arrays = typedArrays(read)
    expect(arrays.length).toBeGreaterThan(10)
    for (const a of arrays) expect(a.buffer.byteLength).toBe(a.byteLength)
    expect(read).toEqual(snap)
    const next = new LiveAnomalies({ stepMs: W, startedAtMs: 0 })
    expect(next.restore(read)).toBe(3)
    expect(next.snapshot()).toEqual(snap)
  })
})
