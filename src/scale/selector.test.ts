import { describe, expect, it } from 'vitest'
import { gaussian, rng } from '../forecast/stats.js'
import { SelectingPolicy, ShadowFleet, VolatilityBand } from './selector.js'
import { runPredictive, runReactive, runSelecting as replaySelecting, simulate } from './simulate.js'

const MIN = 60_000
const limits = { min: 1, max: 50, capacityPerReplica: 25, targetUtilization: 0.8 }

/** Three days of a noisy rate with clustered bursts (a burst makes the next one likelier). */
function burstySeries(seed: number, n = 3 * 1440): number[] {
  const u = rng(seed)
  const g = gaussian(u)
  let ar = 0
  let burst = 0
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    if (u() < (burst > 0.2 ? 0.08 : 0.01)) burst += 0.5 + u()
    burst *= 0.85
    ar = 0.9 * ar + 0.12 * g()
    out.push(200 * Math.exp(ar) * (1 + burst))
  }
  return out
}

/**
 * Three days of a noisy rate with a job that runs every hour at minute 17: two minutes at
 * `height` times the rate (a cron-driven surge, the same every hour)
 */
function hourlyJobSeries(seed: number, height: number, n = 3 * 1440): number[] {
  const u = rng(seed)
  const g = gaussian(u)
  return Array.from({ length: n }, (_, i) => {
    const base = 150 * (1 + 0.3 * Math.sin((2 * Math.PI * i) / 1440)) * (1 + 0.05 * g())
    return i % 60 === 17 || i % 60 === 18 ? height * base : base
  })
}

function runSelecting(demand: readonly number[], budget?: number, dwellMs?: number) {
  const policy = new SelectingPolicy({
    limits,
    stabilizationMs: 300_000,
    startupMs: 120_000,
    stepMs: MIN,
    budget,
    dwellMs,
  })
  const decisions: string[] = []
  const r = simulate(demand, { stepMs: MIN, startupMs: 120_000, limits }, (t, current) => {
    const d = policy.decide({ atMs: (t + 1) * MIN, observed: demand[t], current })
    decisions.push(`${d.desired} ${d.reason}`)
    return d.desired
  })
  return { ...r, decisions }
}

describe('ShadowFleet', () => {
  it('accounts a row exactly as simulate does', () => {
    const demand = [50, 50, 250, 250, 250, 250, 250]
    const plan = (t: number, current: number) => (t >= 2 ? 4 : current)
    const r = simulate(
      demand,
      { stepMs: MIN, startupMs: 90_000, limits: { ...limits, capacityPerReplica: 100 } },
      plan,
    )
    const fleet = new ShadowFleet(100, 90_000, 0)
    fleet.apply(-Infinity, 1)
    let under = 0
    let replica = 0
    for (let t = 0; t < demand.length; t++) {
      // w = 1: the trailing figures are the row's own
      fleet.account((t + 1) * MIN, MIN, demand[t], 1)
      under += fleet.under
      replica += fleet.replica
      fleet.apply((t + 1) * MIN, plan(t, fleet.current))
    }
    expect(under / MIN).toBeCloseTo(r.underProvisionedMinutes, 9)
    expect(replica / MIN).toBeCloseTo(r.replicaMinutes, 9)
  })
})

describe('VolatilityBand', () => {
  it('widens after a burst and narrows again in calm', () => {
    const band = new VolatilityBand(3)
    const u = rng(3)
    for (let i = 0; i < 200; i++) band.update(100 + 5 * u(), 100)
    const calm = band.upper(0.9)!
    for (const y of [100, 300, 120, 280, 110]) band.update(y, 100)
    const after = band.upper(0.9)!
    expect(calm).toBeGreaterThan(100)
    expect(after - 100).toBeGreaterThan(3 * (calm - 100))
    for (let i = 0; i < 300; i++) band.update(100 + 5 * u(), 100)
    expect(band.upper(0.9)!).toBeLessThan(100 + 1.5 * (calm - 100))
  })

  it('has no band before enough peaks were realised', () => {
    const band = new VolatilityBand(3)
    for (let i = 0; i < 10; i++) band.update(10, 10)
    expect(band.upper(0.9)).toBeNull()
  })
})

describe('SelectingPolicy', () => {
  it('is strictly online: a prefix of the series gives a prefix of the decisions', () => {
    const demand = burstySeries(5, 900)
    const full = runSelecting(demand)
    const prefix = runSelecting(demand.slice(0, 400))
    expect(prefix.decisions).toEqual(full.decisions.slice(0, 400))
  })

  it('on clustered bursts halves the HPA-shaped baseline’s under-provisioned minutes within 20% more replica-minutes', () => {
    for (const seed of [11]) {
      const demand = burstySeries(seed)
      const r = runReactive(demand, { stepMs: MIN, startupMs: 120_000, limits })
      const s = runSelecting(demand)
      expect(s.underProvisionedMinutes, `seed ${seed}`).toBeLessThanOrEqual(0.5 * r.underProvisionedMinutes)
      expect(s.replicaMinutes / r.replicaMinutes, `seed ${seed}`).toBeLessThanOrEqual(1.2)
    }
  })

  it('on bursts that come at no time one could tell, stays within the budget and holds a floor at a recent percentile', () => {
    const STEP = 5 * MIN
    const opts = { stepMs: STEP, startupMs: 120_000, limits }
    for (const seed of [1, 3]) {
      // independent rows, heavy-tailed: nothing in the past says when the next burst comes
      const g = gaussian(rng(seed))
      const demand = Array.from({ length: 10 * 288 }, () => 40 * Math.exp(g()))
      const r = runReactive(demand, opts)
      const policy = new SelectingPolicy({
        limits,
        stabilizationMs: 300_000,
        startupMs: 120_000,
        stepMs: STEP,
      })
      const followed = new Map<string, number>()
      const s = simulate(demand, opts, (t, current) => {
        const d = policy.decide({ atMs: (t + 1) * STEP, observed: demand[t], current })
        followed.set(policy.leader, (followed.get(policy.leader) ?? 0) + 1)
        return d.desired
      })
      // the peak held over a stabilisation window was the best rule before: ×0.84–0.88
      expect(s.underProvisionedMinutes / r.underProvisionedMinutes, `seed ${seed}`).toBeLessThan(0.75)
      expect(s.replicaMinutes / r.replicaMinutes, `seed ${seed}`).toBeLessThanOrEqual(1.2)
      const top = [...followed].sort((a, b) => b[1] - a[1])[0][0]
      expect(top, `seed ${seed}`).toMatch(/^floor at the \d+th percentile of (24|168) h$/)
    }
    // every row a burst with probability 0.2, a minute apart: a rule that holds the peak where the
    // reference holds none and sheds it where the reference holds looked within the budget on its
    // own fleet and, followed under the reference's floor, spent 1.26× the reference
    const u = rng(2)
    const demand = Array.from(
      { length: 4 * 1440 },
      () => 40 * (1 + 0.2 * u()) * (u() < 0.2 ? 3 + 3 * u() : 1),
    )
    const r = runReactive(demand, { stepMs: MIN, startupMs: 120_000, limits })
    const s = runSelecting(demand)
    expect(s.replicaMinutes / r.replicaMinutes).toBeLessThanOrEqual(1.2)
  })

  it('on bursts in a rhythm no season names (every 3 to 5 rows), follows what came after stretches like now', () => {
    const STEP = 5 * MIN
    const opts = { stepMs: STEP, startupMs: 120_000, limits }
    const u = rng(7)
    const demand: number[] = []
    for (let i = 0, next = 3; i < 7 * 288; i++) {
      const burst = i === next
      if (burst) next = i + 3 + Math.floor(3 * u())
      demand.push((burst ? 100 : 50) * (1 + 0.05 * (u() - 0.5)))
    }
    const r = runReactive(demand, opts)
    const p = runPredictive(demand, { ...opts, stabilizationMs: 300_000, freqSec: STEP / 1000 })
    // before, it followed the HPA-shaped rule most: ×0.61
    expect(p.underProvisionedMinutes / r.underProvisionedMinutes).toBeLessThan(0.59)
    expect(p.replicaMinutes / r.replicaMinutes).toBeLessThanOrEqual(1.2)
    const top = Object.entries(p.followed).sort((a, b) => b[1] - a[1])[0][0]
    expect(top).toMatch(/percentile of what followed the recent stretches most like now/)
  })

  it('a budget of 0 spends no more than the HPA-shaped baseline, give or take its memory', () => {
    const demand = burstySeries(13)
    const r = runReactive(demand, { stepMs: MIN, startupMs: 120_000, limits })
    const s = runSelecting(demand, 0)
    expect(s.replicaMinutes / r.replicaMinutes).toBeLessThan(1.05)
  })

  it('spends its budget on headroom through a quiet stretch, and so is not short in the first burst after it', () => {
    // two days where no candidate is ever short (190 req/s ±1 %: 10 replicas at 80 %, 250 req/s
    // at full capacity), then 265 req/s for 10 minutes
    const u = rng(21)
    const demand = Array.from({ length: 2 * 1440 + 60 }, (_, i) =>
      i >= 2 * 1440 + 30 && i < 2 * 1440 + 40 ? 265 : 190 * (1 + 0.01 * (2 * u() - 1)),
    )
    const r = runReactive(demand, { stepMs: MIN, startupMs: 120_000, limits })
    const s = runSelecting(demand)
    expect(r.underProvisionedMinutes).toBeGreaterThan(0)
    expect(s.underProvisionedMinutes).toBe(0)
    expect(s.replicaMinutes / r.replicaMinutes).toBeLessThanOrEqual(1.2)
  })

  it('meets a surge that recurs on the hour ahead of it, in as many recurrences as the budget pays for', () => {
    // meeting every recurrence costs more than the budget: the HPA-shaped rule holds a surge's
    // replicas for 7 minutes, meeting it ahead holds them 3 minutes longer
    const demand = hourlyJobSeries(31, 6)
    const r = runReactive(demand, { stepMs: MIN, startupMs: 120_000, limits })
    const s = runSelecting(demand)
    expect(r.underProvisionedMinutes).toBeGreaterThan(100)
    expect(s.underProvisionedMinutes).toBeLessThanOrEqual(0.6 * r.underProvisionedMinutes)
    expect(s.replicaMinutes / r.replicaMinutes).toBeLessThanOrEqual(1.18)
    expect(
      s.decisions.some((d) => /following .+, and echo of the last 2 .+ as far as the budget allows/.test(d)),
    ).toBe(true)
  })

  it('expects no surge that came once: a one-off spike is not met again a day later', () => {
    const u = rng(41)
    const spikeAt = 1440 + 600
    const demand = Array.from({ length: 2 * 1440 + 700 }, (_, i) =>
      i >= spikeAt && i < spikeAt + 3 ? 2000 : 150 * (1 + 0.02 * (2 * u() - 1)),
    )
    const s = runSelecting(demand)
    // 150 req/s needs 8 replicas at 80 %; the spike 100: a day later, around its time, no more than headroom
    for (let t = spikeAt + 1440 - 5; t < spikeAt + 1440 + 5; t++)
      expect(Number(s.decisions[t].split(' ')[0]), `minute ${t}`).toBeLessThanOrEqual(11)
  })

  it('does not hold the end of a surge a second stabilisation window', () => {
    // a surge's replicas are held for the stabilisation window after it, as the HPA-shaped rule
    // holds them; the dwell (against churn) does not hold them again
    const demand = Array.from({ length: 600 }, (_, i) => (i >= 400 && i < 403 ? 1000 : 100))
    const r = runReactive(demand, { stepMs: MIN, startupMs: 120_000, limits })
    const s = runSelecting(demand)
    const releasedAt = (schedule: readonly number[]) => schedule.findIndex((n, t) => t > 403 && n <= 8)
    expect(s.schedule[402]).toBeGreaterThanOrEqual(50)
    expect(releasedAt(s.schedule)).toBeLessThanOrEqual(releasedAt(r.schedule) + 1)
  })

  it('says which candidate it followed and why', () => {
    const demand = burstySeries(14, 600)
    const s = runSelecting(demand)
    expect(s.decisions.at(-1)).toMatch(
      /following the rule ".+", the one short of capacity least lately within the replica-time budget/,
    )
  })

  it('rejects a decision interval of 0', () => {
    expect(() => new SelectingPolicy({ limits, stabilizationMs: 0, startupMs: 120_000, stepMs: 0 })).toThrow(
      /stepMs/,
    )
  })

  it('holds a scale-down through the dwell: fewer scaling actions, never more under-provisioned time, within the budget', () => {
    const demand = burstySeries(11)
    const hpa = runReactive(demand, { stepMs: MIN, startupMs: 120_000, limits })
    const none = runSelecting(demand, undefined, 0)
    const dwell = runSelecting(demand, undefined, 300_000)
    expect(dwell.actions).toBeLessThan(none.actions)
    // with the tolerances, about as calm as the HPA-shaped baseline
    expect(dwell.actions).toBeLessThanOrEqual(1.2 * hpa.actions)
    expect(dwell.underProvisionedMinutes).toBeLessThanOrEqual(none.underProvisionedMinutes * 1.05 + 1)
    expect(dwell.replicaMinutes).toBeLessThanOrEqual(1.2 * hpa.replicaMinutes)
    // a decision that holds replicas the followed candidate would drop says so
    expect(dwell.decisions.some((d) => d.includes('stabilisation window'))).toBe(true)
  })

  it('ignores a scale-down that removes no more than 10 % of the replicas, and makes a larger one', () => {
    // 20 req/s per replica at 80 %: 400 req/s needs 20, 380 needs 19, 300 needs 15
    const policy = new SelectingPolicy({ limits, stabilizationMs: 300_000, startupMs: 120_000, stepMs: MIN })
    let current = 1
    let t = 0
    const run = (observed: number, minutes: number) => {
      for (const end = t + minutes; t < end; t++) {
        const d = policy.decide({ atMs: (t + 1) * MIN, observed, current })
        current = d.desired
      }
    }
    run(400, 120)
    expect(current).toBe(20)
    run(380, 60)
    expect(current).toBe(20)
    run(300, 60)
    expect(current).toBe(15)
  })

  it('on a quiet service at a replica boundary, follows a candidate that scales about as seldom as the HPA-shaped rule', () => {
    // a week of 5-minute rows hovering where a third replica is needed at 70 % (2 × 25 × 0.7 = 35)
    // and two at the HPA's 80 % with its tolerance, never more than three replicas' full capacity:
    // no candidate is ever short, all tie, and "hold the 5 min peak at 70 %" spends most by adding
    // a replica at every crossing and removing it at the next row
    const STEP = 300_000
    const g = gaussian(rng(5))
    const demand = Array.from({ length: 7 * 288 }, () => Math.min(59, 52 * (1 + 0.05 * g())))
    const opts = { stepMs: STEP, startupMs: 120_000, limits }
    const hpa = runReactive(demand, opts)
    const policy = new SelectingPolicy({ limits, stabilizationMs: 300_000, startupMs: 120_000, stepMs: STEP })
    const r = simulate(
      demand,
      opts,
      (t, current) => policy.decide({ atMs: (t + 1) * STEP, observed: demand[t], current }).desired,
    )
    expect(hpa.underProvisionedMinutes).toBe(0)
    expect(r.underProvisionedMinutes).toBe(0)
    // at most 3× the reference's actions + one an hour (168 in a week); about 1,000 without the rule
    expect(r.actions).toBeLessThanOrEqual(3 * hpa.actions + 168)
    expect(r.replicaMinutes).toBeLessThanOrEqual(1.2 * hpa.replicaMinutes)
  })

  it('in its first minutes on noisy low traffic, does not start a replica and stop it again every few decisions', () => {
    // ten minutes of 2-second windows counting a rate that ramps from 5 to 10 req/s (Poisson), 8
    // req/s per replica, 6 s start-up, 2-minute stabilisation: a new service, as in the demo.
    // Every candidate is new; the trailing figures have gathered little weight yet.
    const STEP = 2000
    const opts = {
      stepMs: STEP,
      startupMs: 6000,
      stabilizationMs: 120_000,
      freqSec: STEP / 1000,
      limits: { min: 1, max: 4, capacityPerReplica: 8, targetUtilization: 0.8 },
    }
    let actions = 0
    let quickDowns = 0
    for (let seed = 1; seed <= 4; seed++) {
      const u = rng(seed)
      const poisson = (lambda: number) => {
        let k = 0
        for (let p = u(); p > Math.exp(-lambda); p *= u()) k++
        return k
      }
      const demand = Array.from({ length: 300 }, (_, i) => poisson((5 + (5 * i) / 300) * (STEP / 1000)) / 2)
      let lastUp = -Infinity
      const r = runPredictive(demand, {
        ...opts,
        onDecision: (d, t) => {
          if (d.desired > d.current) lastUp = t
          else if (d.desired < d.current && t - lastUp <= 60) quickDowns++
        },
      })
      actions += r.actions
    }
    // 110 actions before the trailing action rates were read with the weight they have gathered
    expect(actions).toBeLessThanOrEqual(40)
    expect(quickDowns).toBeLessThanOrEqual(15)
  })

  it('a forecast band wavering across a whole replica starts and stops nothing', () => {
    // the observed load needs 10 replicas throughout; the band's upper edge alternates between
    // 9.6 and 10.4 replicas' full capacity, every few minutes
    const policy = new SelectingPolicy({ limits, stabilizationMs: 300_000, startupMs: 120_000, stepMs: MIN })
    let current = 10
    let actions = 0
    for (let t = 0; t < 600; t++) {
      const upper = Math.floor(t / 7) % 2 === 0 ? 240 : 260
      const d = policy.decide({
        atMs: (t + 1) * MIN,
        observed: 195,
        current,
        forecast: { point: 195, upper, model: 'x', level: 90 },
      })
      if (d.desired !== current) actions++
      current = d.desired
    }
    expect(current).toBe(10)
    expect(actions).toBe(0)
  })

  it('never scales down before the configured stabilisation window has shown lower load, whichever candidate it follows', () => {
    // 30-minute window: bursts to 400 req/s (20 replicas at 80 %) every 3 hours over 100 req/s.
    // The HPA-shaped candidate (5 minutes) is the cheapest and often followed; the window still holds.
    const policy = new SelectingPolicy({
      limits,
      stabilizationMs: 1_800_000,
      startupMs: 120_000,
      stepMs: MIN,
    })
    const g = gaussian(rng(3))
    let current = 5
    let lastHigh = -Infinity
    for (let t = 0; t < 2 * 1440; t++) {
      const observed = (t % 180 < 20 ? 400 : 100) * (1 + 0.03 * g())
      if (observed > 300) lastHigh = t
      const d = policy.decide({ atMs: (t + 1) * MIN, observed, current })
      if (t - lastHigh < 30) expect(d.desired, `minute ${t}`).toBeGreaterThanOrEqual(Math.min(current, 18))
      if (d.desired < current && t - lastHigh < 30) expect(d.reason).toMatch(/stabilisation window/)
      current = d.desired
    }
    expect(current).toBeLessThanOrEqual(7)
  })

  it('never holds a scale-down longer than the configured stabilisation window', () => {
    // 10 s decisions, 10 s stabilisation: a drop from 600 to 10 req/s (one replica even at 40 %
    // utilisation, so no candidate keeps a second one as headroom) reaches 1 replica within
    // seconds, not after the 5-minute default dwell
    const policy = new SelectingPolicy({ limits, stabilizationMs: 10_000, startupMs: 5_000, stepMs: 1_000 })
    let current = 1
    let t = 0
    for (; t < 120; t++) current = policy.decide({ atMs: t * 1_000, observed: 600, current }).desired
    expect(current).toBeGreaterThan(3)
    const dropAt = t
    for (; t < dropAt + 60 && current > 1; t++)
      current = policy.decide({ atMs: t * 1_000, observed: 10, current }).desired
    expect(current).toBe(1)
    expect(t - dropAt).toBeLessThan(60)
  })
})

/** the demo's users service: 2 s windows, 6 s to boot a replica, 8 req/s per replica, 1 to 4 */
const DEMO_USERS = {
  stepMs: 2000,
  startupMs: 6000,
  stabilizationMs: 120_000,
  limits: { min: 1, max: 4, capacityPerReplica: 8, targetUtilization: 0.8 },
}

describe('SelectingPolicy reasons', () => {
  it('names the count it asks for when the candidate followed sizes the load otherwise', () => {
    // bursty demand at small fleets: the hold-the-peak candidates (other utilisations, held
    // peaks) are followed part of the time and ask for counts the observed load alone does not
    const policy = new SelectingPolicy({
      limits: { min: 1, max: 20, capacityPerReplica: 60, targetUtilization: 0.8 },
      stabilizationMs: 300_000,
      startupMs: 120_000,
      stepMs: MIN,
    })
    const demand = burstySeries(3)
    let current = 1
    let checked = 0
    for (let t = 0; t < demand.length; t++) {
      const d = policy.decide({ atMs: (t + 1) * MIN, observed: demand[t], current })
      if (d.direction !== 'hold' && d.driver === 'reactive') {
        // the reason's first clause explains the new count itself
        const why = d.reason.slice(d.reason.indexOf(': ') + 2, d.reason.indexOf(' ('))
        expect(why).toMatch(new RegExp(`(needs|asks for) ${d.desired}\\b`))
        checked++
      }
      current = d.desired
    }
    expect(checked).toBeGreaterThan(20)
  })

  it("a scale-up made by a candidate holding its own window's peak names that ask, not the smaller need", () => {
    // the demo's 2 s clock: a held-peak candidate followed while the load ramps holds its shadow
    // fleet's count, more than the service runs; that was read as "the stabilisation window still
    // shows load needing 2" for a scale-up 2 → 3
    const opts = DEMO_USERS
    const wrong: string[] = []
    let seen = 0
    for (let seed = 1; seed <= 10; seed++) {
      const u = rng(seed)
      const demand = Array.from({ length: 600 }, (_, i) => 2 + (10 * i) / 600 + 6 * u() * u())
      replaySelecting(
        demand,
        {
          ...opts,
          headroomBudget: 0.75,
          onDecision: (d) => {
            if (d.direction !== 'up' || d.driver !== 'stabilization') return
            seen++
            const why = d.reason.slice(d.reason.indexOf(': ') + 2, d.reason.indexOf(' ('))
            if (!new RegExp(`asks for ${d.desired}\\b`).test(why)) wrong.push(d.reason)
          },
        },
        () => null,
      )
    }
    expect(seen).toBeGreaterThan(0)
    expect(wrong.slice(0, 2)).toEqual([])
  })
})

describe('SelectingPolicy in a service first minutes', () => {
  it('holds a replica asked for ahead of the load for the dwell, not until the next decision', () => {
    // the demo's shape: 2 s windows counting a Poisson rate that ramps from 5 to 10 req/s over ten
    // minutes, 8 req/s per replica, a forecast that sees the ramp's next seconds with the counting
    // noise's band: its replicas come ahead of the load, and the trailing replica-time holds only
    // minutes, so one of them spent the whole budget and was dropped again at once
    const opts = DEMO_USERS
    // scale-downs within 30 s of a scale-up, per seed
    const flaps: number[] = []
    for (let seed = 1; seed <= 10; seed++) {
      const u = rng(seed)
      const demand = Array.from({ length: 300 }, (_, i) => {
        // Poisson by inversion of exponential gaps (no library: a few counts per window)
        const lambda = (5 + (5 * i) / 300) * 2
        let k = 0
        for (let t = -Math.log(1 - u()); t < lambda; t += -Math.log(1 - u())) k++
        return k / 2
      })
      const asked: number[] = []
      replaySelecting(demand, { ...opts, onDecision: (d) => asked.push(d.desired) }, (t) => {
        const mean = 5 + (5 * (t + 4)) / 300
        return { point: mean, upper: mean + 1.64 * Math.sqrt(mean / 2), model: 'ramp', level: 90 }
      })
      let lastUp = -Infinity
      let n = 0
      for (let i = 1; i < asked.length; i++)
        if (asked[i] > asked[i - 1]) lastUp = i
        else if (asked[i] < asked[i - 1] && i - lastUp <= 15) n++
      flaps.push(n)
    }
    expect(flaps).toEqual(Array(10).fill(0))
  })
})
