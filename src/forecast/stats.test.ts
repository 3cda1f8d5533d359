import { describe, expect, it } from 'vitest'
import { nelderMead } from './stats.js'

/** Wraps an objective to count its evaluations: the work a fit does, independent of the machine. */
function counted(f: (x: number[]) => number): { f: (x: number[]) => number; calls: () => number } {
  let calls = 0
  return {
    f: (x) => {
      calls++
      return f(x)
    },
    calls: () => calls,
  }
}

describe('nelderMead', () => {
  it('still converges on a smooth valley (Rosenbrock)', () => {
    const o = counted(([a, b]) => (1 - a) ** 2 + 100 * (b - a * a) ** 2)
    const r = nelderMead(o.f, [-1.2, 1], { maxIter: 5000 })
    expect(r.x[0]).toBeCloseTo(1, 3)
    expect(r.x[1]).toBeCloseTo(1, 3)
    expect(r.fx).toBeLessThan(1e-6)
  })

  it('gives up at once when no vertex of the start simplex is feasible', () => {
    // as an ETS form whose states go invalid everywhere near its start: NaN is "infeasible"
    const o = counted(() => NaN)
    const r = nelderMead(o.f, [0.3, 1, -2, 0.5, 0], { maxIter: 3000 })
    expect(r.fx).toBe(Infinity)
    expect(r.x).toEqual([0.3, 1, -2, 0.5, 0])
    expect(o.calls()).toBe(6) // the start simplex only, not maxIter × (shrinks of n + 1)
  })

  it('stops when the simplex has collapsed onto the only feasible point', () => {
    // the value test never passes while the other vertices are infeasible; before the collapse
    // test this shrank for all of maxIter (3000 iterations × 7 evaluations here)
    const x0 = [0.1, -0.4, 2, 0, 1]
    const o = counted((x) => (x.every((v, j) => v === x0[j]) ? 1 : Infinity))
    const r = nelderMead(o.f, x0, { maxIter: 3000 })
    expect(r.x).toEqual(x0)
    expect(r.fx).toBe(1)
    expect(o.calls()).toBeLessThan(40 * (x0.length + 2))
  })

  it('bounds the work by maxIter on an objective that never settles', () => {
    let t = 0
    // a value that changes on every call defeats the value test and never collapses the simplex
    const o = counted(() => Math.sin(t++) * 1e3)
    nelderMead(o.f, [0, 0, 0], { maxIter: 50 })
    expect(o.calls()).toBeLessThanOrEqual(4 + 50 * (3 + 2))
  })
})
