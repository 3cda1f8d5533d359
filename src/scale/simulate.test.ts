import { describe, expect, it } from 'vitest'
import { leadSteps, runPerfectForesight, runPredictive, runReactive, simulate } from './simulate.js'

const MIN = 60_000
const limits = { min: 1, max: 50, capacityPerReplica: 100, targetUtilization: 0.8 }

describe('simulate', () => {
  it('makes replicas wait for their start-up and counts the minutes demand was above ready capacity', () => {
    // 1 replica (100 req/s) until a step to 250 req/s at row 2; the policy asks for 4 after row 2
    const demand = [50, 50, 250, 250, 250, 250, 250]
    const r = simulate(demand, { stepMs: MIN, startupMs: 90_000, limits }, (t, current) =>
      t >= 2 ? 4 : current,
    )
    // decided at the end of row 2 (3 min), ready at 4.5 min: rows 2, 3 and half of row 4 are short
    expect(r.underProvisionedMinutes).toBeCloseTo(2.5, 9)
    expect(r.schedule).toEqual([1, 1, 4, 4, 4, 4, 4])
    expect(r.actions).toBe(1)
    // replicas count from the moment they are asked for: 1+1+1 then 4 for rows 3..6
    expect(r.replicaMinutes).toBeCloseTo(3 + 4 * 4, 9)
  })

  it('removes replicas still starting before ready ones', () => {
    const demand = [100, 100, 100, 100, 100]
    // up to 5 after row 0, back to 2 after row 1: the three new ones never served
    const r = simulate(demand, { stepMs: MIN, startupMs: 10 * MIN, limits }, (t) => (t === 0 ? 5 : 2))
    // 2 replicas at start (100/80 → 2), both ready: no row is short
    expect(r.underProvisionedMinutes).toBe(0)
    expect(r.actions).toBe(2)
  })

  it('leadSteps counts the rows until replicas asked for now serve, plus one', () => {
    expect(leadSteps(MIN, 120_000)).toBe(3)
    expect(leadSteps(MIN, 90_000)).toBe(3)
    expect(leadSteps(300_000, 120_000)).toBe(2)
    expect(leadSteps(MIN, 0)).toBe(1)
  })
})

function wave(n: number, seed = 7): number[] {
  let s = seed
  const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647
  return Array.from(
    { length: n },
    (_, i) => 300 + 250 * Math.sin((2 * Math.PI * i) / 240) + 40 * rnd() + (i % 97 < 4 ? 400 : 0),
  )
}

describe('policies on a series', () => {
  const opts = { stepMs: MIN, startupMs: 120_000, limits }

  it('perfect foresight is never short when max suffices', () => {
    const r = runPerfectForesight(wave(600), opts)
    expect(r.underProvisionedMinutes).toBe(0)
  })

  it('the HPA-shaped baseline is short at the start of every surge', () => {
    const r = runReactive(wave(600), opts)
    expect(r.underProvisionedMinutes).toBeGreaterThan(10)
  })

  it('predictive decisions are strictly online: a prefix of the series gives a prefix of the schedule', () => {
    const demand = wave(400)
    const run = { ...opts, stabilizationMs: 5 * MIN, freqSec: 60, refitEvery: 25 }
    const full = runPredictive(demand, run)
    const prefix = runPredictive(demand.slice(0, 250), run)
    expect(prefix.schedule).toEqual(full.schedule.slice(0, 250))
    // and the future matters to nothing before it: a wild tail leaves the head alone
    const altered = demand.slice(0, 250).concat(demand.slice(250).map((v) => v * 5))
    expect(runPredictive(altered, run).schedule.slice(0, 250)).toEqual(full.schedule.slice(0, 250))
  })

  it('predictive never asks for fewer replicas than the HPA-shaped baseline at the same row', () => {
    // bursts that come and go at random: whatever the followed rule asks for, the baseline's ask is a floor
    let s = 11
    const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647
    const demand = Array.from({ length: 1500 }, () => 200 + 100 * rnd() + (rnd() < 0.05 ? 600 * rnd() : 0))
    const p = runPredictive(demand, { ...opts, stabilizationMs: 5 * MIN, freqSec: 60, refitEvery: 50 })
    const r = runReactive(demand, opts)
    const below = p.schedule.flatMap((n, i) => (n < r.schedule[i] ? [i] : []))
    expect(below).toEqual([])
    expect(p.underProvisionedMinutes).toBeLessThanOrEqual(r.underProvisionedMinutes)
  })

  it('predictive is short less often than the baseline on recurring surges, within its headroom budget', () => {
    const demand = wave(1500)
    const p = runPredictive(demand, { ...opts, stabilizationMs: 5 * MIN, freqSec: 60, refitEvery: 50 })
    const r = runReactive(demand, opts)
    expect(p.underProvisionedMinutes).toBeLessThan(r.underProvisionedMinutes)
    expect(p.replicaMinutes / r.replicaMinutes).toBeLessThan(1.25)
  })
})
