import { describe, expect, it } from 'vitest'
import { gaussian, testRng } from './detector.contract.js'
import { SeriesEnsemble, type MetricPoint } from './index.js'

function point(rng: () => number, i: number, over: Partial<MetricPoint> = {}): MetricPoint {
  const requests = Math.round(1000 + 300 * Math.sin((2 * Math.PI * i) / 360) + 20 * gaussian(rng))
  const errors = Math.round(requests * 0.01 + 2 * gaussian(rng))
  const p95 = 120 + 5 * gaussian(rng)
  return {
    rate: requests / 10,
    errorRatio: Math.max(0, errors) / requests,
    p50: 40 + 2 * gaussian(rng),
    p95,
    p99: p95 * 1.6,
    limitedRatio: 0,
    requests,
    errors: Math.max(0, errors),
    ...over,
  }
}

describe('SeriesEnsemble', () => {
  it('raises one signal for an error burst, explains it, and names the child that caused it', () => {
    const rng = testRng(1)
    const bank = new SeriesEnsemble({ stepMs: 10_000 })
    const raised: string[] = []
    let burst = null
    for (let i = 0; i < 1500; i++) {
      const inBurst = i >= 1400 && i < 1410
      const p = point(rng, i, inBurst ? { errors: 200, errorRatio: 0.2 } : {})
      const children = {
        'GET /a': { ...p, errors: inBurst ? 190 : p.errors / 2, requests: p.requests / 2 },
        'GET /b': { ...p, errors: inBurst ? 10 : p.errors / 2, requests: p.requests / 2 },
      }
      const { signals } = bank.step(p, children)
      for (const s of signals)
        if (s.state === 'raised') {
          raised.push(`${i}:${s.metric}`)
          if (s.metric === 'errors') burst = s
        }
    }
    expect(raised.filter((r) => r.endsWith(':errors'))).toEqual(['1400:errors'])
    expect(burst).not.toBeNull()
    expect(burst!.observed).toBe(200)
    expect(burst!.expected).toBeLessThan(30)
    expect(burst!.children[0].key).toBe('GET /a')
    expect(burst!.children[0].share).toBeGreaterThan(0.8)
  })

  it('continues identically after snapshot and restore', () => {
    const rng = testRng(2)
    const points = Array.from({ length: 900 }, (_, i) =>
      point(rng, i, i === 850 ? { p95: 400, p99: 700 } : {}),
    )
    const a = new SeriesEnsemble()
    points.slice(0, 600).forEach((p) => a.step(p))
    const b = SeriesEnsemble.restore(structuredClone(a.snapshot()))
    const ra = points.slice(600).map((p) => a.step(p))
    const rb = points.slice(600).map((p) => b.step(p))
    expect(rb).toEqual(ra)
    expect(ra[250].signals.some((s) => s.metric === 'p95' && s.state === 'raised')).toBe(true)
  })
})
