import { describe, expect, it } from 'vitest'
import { createLatencySketch, decodeSketch, encodeSketch, mergeSketch } from './sketch.js'

/** deterministic PRNG (mulberry32) so a failure reproduces */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function logNormal(r: () => number, mu: number, sigma: number): number {
  const u = 1 - r()
  const v = r()
  return Math.exp(mu + sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v))
}

/** the rank convention DDSketch uses: value at rank floor(q * (n - 1)) */
function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!
}

describe('latency sketch', () => {
  it('keeps merged quantiles of three gateways within 1% relative error after encoding', () => {
    const r = rng(42)
    const all: number[] = []
    const parts = [createLatencySketch(), createLatencySketch(), createLatencySketch()]
    for (let i = 0; i < 300_000; i++) {
      // heavy tail: a slow mode on one "gateway" so the parts differ
      const v = i % 3 === 2 ? logNormal(r, 4, 1.1) : logNormal(r, 3, 0.8)
      all.push(v)
      parts[i % 3]!.accept(v)
    }
    const merged = createLatencySketch()
    for (const p of parts) mergeSketch(merged, decodeSketch(encodeSketch(p)))
    all.sort((a, b) => a - b)
    expect(merged.count).toBe(all.length)
    for (const q of [0.5, 0.75, 0.9, 0.95, 0.99, 0.999]) {
      const exact = exactQuantile(all, q)
      const est = merged.getValueAtQuantile(q)
      expect(Math.abs(est - exact) / exact, `q=${q} exact=${exact} est=${est}`).toBeLessThanOrEqual(
        0.01 + 1e-9,
      )
    }
  })

  it('round-trips count, sum, min, max and zero values', () => {
    const s = createLatencySketch()
    for (const v of [0, 0, 0.5, 3, 12.25, 999]) s.accept(v)
    const back = decodeSketch(encodeSketch(s))
    expect(back.count).toBe(6)
    expect(back.zeroCount).toBe(2)
    expect(back.sum).toBeCloseTo(1014.75, 9)
    expect(back.min).toBe(0)
    expect(back.max).toBe(999)
    expect(back.getValueAtQuantile(1)).toBeCloseTo(s.getValueAtQuantile(1), 9)
  })

  it('encodes a typical window compactly', () => {
    const r = rng(7)
    const s = createLatencySketch()
    for (let i = 0; i < 10_000; i++) s.accept(logNormal(r, 3, 0.8))
    expect(encodeSketch(s).length).toBeLessThan(1200)
    expect(s.toProto().length).toBeGreaterThan(encodeSketch(s).length)
  })

  it('round-trips an empty sketch', () => {
    const back = decodeSketch(encodeSketch(createLatencySketch()))
    expect(back.count).toBe(0)
    expect(Number.isNaN(back.getValueAtQuantile(0.5))).toBe(true)
  })

  it('merges negative values too (the library merge alone drops them)', () => {
    const a = createLatencySketch()
    const b = createLatencySketch()
    a.accept(5)
    b.accept(-5)
    b.accept(7)
    mergeSketch(a, b)
    expect(a.count).toBe(3)
    expect(a.negativeStore.count).toBe(1)
    expect(a.getValueAtQuantile(0)).toBeCloseTo(-5, 0)
  })

  it('rejects bytes from another codec version with VGL_ERR_TELEMETRY_DECODE', () => {
    const bytes = encodeSketch(createLatencySketch())
    bytes[0] = 9
    expect(() => decodeSketch(bytes)).toThrow(expect.objectContaining({ code: 'VGL_ERR_TELEMETRY_DECODE' }))
    expect(() => decodeSketch(encodeSketch(createLatencySketch()).subarray(0, 5))).toThrow(/truncated/)
  })
})
