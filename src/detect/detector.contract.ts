/** @module The contract every Detector passes (River's check_estimator, undici's cacheStoreTests). */
import { describe, expect, it } from 'vitest'
import type { Detector, DetectorSnapshot } from './detector.js'

/** Deterministic noise for tests (the detectors have their own seeded RNGs). */
export function testRng(seed: number): () => number {
  let s = seed | 0
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let t = Math.imul(s ^ (s >>> 15), s | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng())
}

/** Noise around 100 with spikes at every 97th point after 400: values and 0/1 labels. */
export function spikySeries(n = 2000, seed = 7): { values: number[]; labels: number[] } {
  const rng = testRng(seed)
  const values: number[] = []
  const labels: number[] = []
  for (let i = 0; i < n; i++) {
    const spike = i > 400 && i % 97 === 0
    values.push(100 + 5 * gaussian(rng) + (spike ? 60 : 0))
    labels.push(spike ? 1 : 0)
  }
  return { values, labels }
}

/** Area under the ROC curve (Mann–Whitney), ties counted half. */
export function auc(scores: number[], labels: number[]): number {
  let pos = 0
  let neg = 0
  let wins = 0
  const p: number[] = []
  const q: number[] = []
  scores.forEach((s, i) => (labels[i] ? p : q).push(s))
  for (const a of p)
    for (const b of q) {
      wins += a > b ? 1 : a === b ? 0.5 : 0
    }
  pos = p.length
  neg = q.length
  return wins / (pos * neg)
}

export function run(d: Detector<number>, values: readonly number[]): number[] {
  return values.map((x) => {
    const s = d.score(x)
    d.update(x)
    return s
  })
}

/**
 * Runs the shared checks on a detector factory. `restore` rebuilds a detector from a snapshot
 * (normally `restoreDetector`).
 */
export function detectorContract(
  name: string,
  make: (seed: number) => Detector<number>,
  restore: (snap: DetectorSnapshot) => Detector<number>,
): void {
  describe(`${name}: Detector contract`, () => {
    const { values, labels } = spikySeries()

    it('matches the interface', () => {
      const d = make(1)
      expect(typeof d.name).toBe('string')
      expect(typeof d.score).toBe('function')
      expect(typeof d.update).toBe('function')
      expect(typeof d.snapshot).toBe('function')
    })

    it('keeps every score in [0,1]', () => {
      const scores = run(make(1), values)
      for (const s of scores) {
        expect(s).toBeGreaterThanOrEqual(0)
        expect(s).toBeLessThanOrEqual(1)
      }
    })

    it('gives the same scores for the same seed', () => {
      expect(run(make(3), values)).toEqual(run(make(3), values))
    })

    it('scores strictly online: a prefix scores the same as the start of the whole', () => {
      const whole = run(make(1), values)
      expect(run(make(1), values.slice(0, 700))).toEqual(whole.slice(0, 700))
    })

    it('continues identically after snapshot and restore', () => {
      const a = make(5)
      run(a, values.slice(0, 1200))
      const snap = structuredClone(a.snapshot())
      const b = restore(snap)
      expect(run(b, values.slice(1200))).toEqual(run(a, values.slice(1200)))
    })

    it('rejects NaN and Infinity with VGL_ERR_DETECT_INPUT and does not learn them', () => {
      const d = make(1)
      run(d, values.slice(0, 300))
      const before = JSON.stringify(d.snapshot().state, (_k, v: unknown) =>
        ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v,
      )
      expect(() => d.score(NaN)).toThrow(expect.objectContaining({ code: 'VGL_ERR_DETECT_INPUT' }))
      expect(() => d.update(Infinity)).toThrow(expect.objectContaining({ code: 'VGL_ERR_DETECT_INPUT' }))
      const after = JSON.stringify(d.snapshot().state, (_k, v: unknown) =>
        ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v,
      )
      expect(after).toBe(before)
    })

    it('ranks injected spikes above ordinary points (AUC ≥ 0.9)', () => {
      const scores = run(make(1), values)
      expect(auc(scores.slice(400), labels.slice(400))).toBeGreaterThanOrEqual(0.9)
    })

    it('scores 0 during warm-up', () => {
      const scores = run(make(1), values.slice(0, 20))
      expect(Math.max(...scores)).toBe(0)
    })
  })
}
