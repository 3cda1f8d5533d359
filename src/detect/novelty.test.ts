import { describe, expect, it } from 'vitest'
import { gaussian, testRng } from './detector.contract.js'
import { Novelty, warmUpPoints } from './novelty.js'

function noisy(n: number, seed: number, level = 100, sd = 5): number[] {
  const rng = testRng(seed)
  return Array.from({ length: n }, () => level + sd * gaussian(rng))
}

const scoresOf = (values: readonly number[], d = new Novelty()): number[] =>
  values.map((x) => d.process(x).score)

describe('novelty: the score marks the onset of an incident', () => {
  it('scores a level shift high at its start, and its continuation low', () => {
    const v = noisy(3000, 1)
    for (let i = 2000; i < v.length; i++) v[i] += 60
    const s = scoresOf(v)
    const onset = Math.max(...s.slice(2000, 2004))
    expect(onset).toBeGreaterThan(0.45)
    expect(onset).toBeGreaterThan(Math.max(...s.slice(1000, 2000)))
    // one incident: later rows of the shift stay below the onset
    expect(Math.max(...s.slice(2010, 3000))).toBeLessThan(onset)
    // the new level is normal soon: the last 800 rows score like ordinary noise
    expect(s.slice(2200).filter((x) => x >= onset)).toHaveLength(0)
  })

  it('does not depend on the units of the series', () => {
    const v = noisy(2000, 2)
    v[1500] += 80
    const a = scoresOf(v)
    const b = scoresOf(v.map((x) => x * 1e6))
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 6)
  })

  it('flags a rare jump on a flat line and nothing on the flat line itself', () => {
    const v = new Array<number>(2000).fill(7)
    v[1500] = 9
    const s = scoresOf(v)
    expect(Math.max(...s.slice(0, 1500))).toBe(0)
    expect(s[1500]).toBe(1)
  })

  it('scores a gap 0 without learning it', () => {
    const d = new Novelty()
    const v = noisy(500, 3)
    scoresOf(v, d)
    const before = JSON.stringify(d.snapshot().state, (_k, x: unknown) =>
      ArrayBuffer.isView(x) ? Array.from(x as Float32Array) : x,
    )
    expect(d.process(NaN)).toEqual({ score: 0, alarm: null })
    expect(d.process(Infinity).score).toBe(0)
    const after = JSON.stringify(d.snapshot().state, (_k, x: unknown) =>
      ArrayBuffer.isView(x) ? Array.from(x as Float32Array) : x,
    )
    expect(after).toBe(before)
  })

  it('raises one alarm for one incident', () => {
    const v = noisy(3000, 4)
    for (let i = 2000; i < 2100; i++) v[i] += 100
    const d = new Novelty()
    const raised: number[] = []
    v.forEach((x, i) => {
      if (d.process(x).alarm === 'raised') raised.push(i)
    })
    expect(raised.filter((i) => i >= 2000 && i < 2200)).toHaveLength(1)
    expect(raised[raised.length - 1]).toBeLessThan(2110)
  })

  it('closes an incident after the median gap between chance events, so the next one scores its own onset', () => {
    expect(new Novelty().o.refractory).toBe(69) // ln 2 / 0.01
    expect(new Novelty({ eventP: 0.001 }).o.refractory).toBe(693)
    const run = (refractory?: number): number[] => {
      const v = noisy(3000, 5)
      for (let i = 2000; i < 2005; i++) v[i] += 80
      // a different incident (a drop), so memory of the first does not make it familiar
      for (let i = 2150; i < 2155; i++) v[i] -= 80
      return scoresOf(v, new Novelty({ refractory }))
    }
    const s = run()
    const first = Math.max(...s.slice(2000, 2010))
    expect(first).toBeGreaterThan(0.45)
    // the first burst's evidence lasts while the 64-row context of scale 16 holds it (to about row
    // 2070); 69 quiet rows close the incident before the drop at 2150: a new incident, undamped
    expect(Math.max(...s.slice(2150, 2160))).toBeGreaterThan(0.45)
    // with 100 quiet rows to close, the drop is taken for the first incident's continuation
    expect(Math.max(...run(100).slice(2150, 2160))).toBeLessThan(0.3)
  })

  it('does not learn normal from rows held as an incident: a repeat of the incident scores as the first did', () => {
    const v = noisy(2000, 6)
    const inIncident = (i: number) => i >= 1000 && (i - 1000) % 240 < 15
    for (let i = 0; i < v.length; i++) if (inIncident(i)) v[i] += 80
    const onsets = (hold: boolean) => {
      const d = new Novelty()
      const s = v.map((x, i) => {
        const score = d.score(x)
        d.update(x, hold && inIncident(i))
        return score
      })
      return [1000, 1240, 1480, 1720].map((i) => s[i])
    }
    const learnt = onsets(false)
    const held = onsets(true)
    expect(learnt[0]).toBeGreaterThan(0.6)
    // learnt, the first incident's contexts are the next one's nearest neighbours, and its
    // distances fill the top of the ranking
    expect(Math.max(...learnt.slice(1))).toBeLessThan(0.45)
    for (const s of held.slice(1)) expect(s).toBeGreaterThanOrEqual(held[0] * 0.9)
    // a shift held for a while, then no longer (accepted as lasting), is learnt within a few dozen rows
    const d = new Novelty()
    const w = noisy(2000, 7)
    for (let i = 1000; i < w.length; i++) w[i] += 80
    const after = w.map((x, i) => {
      const score = d.score(x)
      d.update(x, i >= 1000 && i < 1300)
      return score
    })
    expect(Math.max(...after.slice(1400))).toBeLessThan(0.45)
  })

  it('refuses options it cannot honour, naming the option', () => {
    expect(() => new Novelty({ memory: 3 })).toThrow(/memory/)
    expect(() => new Novelty({ scales: [] })).toThrow(/scales/)
    expect(() => new Novelty({ eventP: 0 })).toThrow(/eventP/)
    expect(() => new Novelty({ eventP: NaN })).toThrow(/eventP/)
    expect(() => new Novelty({ refractory: 0 })).toThrow(/refractory/)
  })
})

describe('novelty: warm-up', () => {
  it('scores 0 for warmUp points whatever comes, and can score from the next one on', () => {
    for (const options of [{}, { scales: [4, 16] }, { scales: [2], blocks: 3, storeDivisor: 2 }]) {
      const d = new Novelty(options)
      expect(d.warmUp).toBe(warmUpPoints(d.o))
      for (const x of noisy(d.warmUp, 3)) {
        expect(d.score(1e6)).toBe(0)
        d.update(x)
      }
      expect(d.learned).toBe(d.warmUp)
      expect(d.score(1e6)).toBeGreaterThan(0)
    }
    // the figure the docs quote for the default detector
    expect(new Novelty().warmUp).toBe(91)
  })
})
