/**
 * The simulator's claims (bench/RESULTS.md) hold for the product only if the live Autoscaler,
 * fed the same demand window by window, decides as `vigil simulate autoscale` does row by row.
 * Both are given the same forecasts: the simulator the peak over its lead rows, the live path the
 * forecast points the control plane's forecast bank would answer.
 */
import { describe, expect, it } from 'vitest'
import { OnlineForecaster } from '../forecast/online.js'
import { scaleSchema, type ScaleConfig } from '../config/scale-schema.js'
import { RecordingActuator } from '../../test/helpers/recording-actuator.js'
import { Autoscaler } from './autoscaler.js'
import { replicasFor, type PeakForecast } from './policy.js'
import { leadSteps, runPredictive, runSelecting } from './simulate.js'

const STEP = 60_000
/** the live clock's origin: a window boundary, as the telemetry windows are */
const T0 = 1_780_000_000_000

function seeded(seed: number): () => number {
  let s = seed
  return () => (s = (s * 16807) % 2147483647) / 2147483647
}

/** A day-shaped ramp (4 h period) with noise, and a 25-minute surge on top. */
function diurnalWithSurge(n: number): number[] {
  const rnd = seeded(11)
  return Array.from({ length: n }, (_, i) => {
    const base = 420 + 320 * Math.sin((2 * Math.PI * i) / 240 - Math.PI / 2)
    return Math.max(0, base + 60 * (rnd() - 0.5) + (i >= 250 && i < 275 ? 700 : 0))
  })
}

/** Low, noisy load with bursts of 1–4 rows at no time one could tell. */
function spiky(n: number): number[] {
  const rnd = seeded(29)
  const out: number[] = []
  let burst = 0
  let height = 0
  for (let i = 0; i < n; i++) {
    if (burst === 0 && rnd() < 0.06) {
      burst = 1 + Math.floor(rnd() * 4)
      height = 300 + rnd() * 900
    }
    out.push(180 + 80 * rnd() + (burst > 0 ? height : 0))
    if (burst > 0) burst--
  }
  return out
}

type BankPoints = { atMs: number; forecast: number; upper: number }[]

/**
 * The live Autoscaler on `demand`: after window t closes (the clock at its end) it observes
 * window t and the forecast `bank(t)` answers then, and decides. With `again`, it ticks a second
 * time half a window later and still finds window t the newest (the control plane holds windows
 * back after a leader's failover; a timer out of phase with the windows). With `silent`, as the
 * control plane does, a window without requests has no roll-up: the newest observed window stays
 * the last busy one, and the control plane says which windows closed. Returns the replicas the
 * actuator runs after each window, and the scale calls.
 */
async function runLive(
  demand: readonly number[],
  scale: ScaleConfig,
  bank: (t: number, horizon?: number) => BankPoints | null,
  again = false,
  silent = false,
): Promise<{ schedule: number[]; calls: { atMs: number; replicas: number }[] }> {
  const clock = { t: T0 }
  const cap = scale.capacityPerReplica as number
  const initial = Math.min(
    scale.max,
    Math.max(scale.min, replicasFor(demand[0], cap * scale.targetUtilization)),
  )
  const actuator = new RecordingActuator(initial, clock)
  let row = -1
  const scaler = new Autoscaler({
    services: { orders: scale },
    actuatorFor: () => actuator,
    windowMs: STEP,
    now: () => clock.t,
    observe: async () => {
      let r = row
      while (silent && r >= 0 && demand[r] === 0) r--
      return r < 0 ? null : { atMs: T0 + r * STEP, ratePerSec: demand[r] }
    },
    ...(silent ? { closedUpTo: async () => T0 + (row + 1) * STEP } : {}),
    forecast: async (_service, horizon) => {
      const points = bank(row, horizon)
      return points === null ? null : { points, model: 'bank', level: 90 }
    },
    record: async () => ({ id: '1', result: { status: 'pending' } }),
    settle: async () => {},
    onError: (err) => {
      throw err
    },
  })
  const schedule: number[] = []
  await scaler.start()
  try {
    for (row = 0; row < demand.length; row++) {
      clock.t = T0 + (row + 1) * STEP
      await scaler.tick()
      if (again) {
        clock.t += STEP / 2
        await scaler.tick()
      }
      schedule.push(actuator.count)
    }
  } finally {
    await scaler.stop()
  }
  return { schedule, calls: actuator.calls }
}

const config = (extra: Record<string, unknown> = {}) =>
  scaleSchema.parse({
    mode: 'enforce',
    min: 1,
    max: 30,
    capacityPerReplica: 100,
    targetUtilization: 0.8,
    leadTimeMs: 120_000,
    scaleDownStabilizationMs: 600_000,
    ...extra,
  })

const simOptions = (s: ScaleConfig) => ({
  stepMs: STEP,
  startupMs: s.leadTimeMs,
  stabilizationMs: s.scaleDownStabilizationMs,
  headroomBudget: s.headroomBudget,
  limits: {
    min: s.min,
    max: s.max,
    capacityPerReplica: s.capacityPerReplica as number,
    targetUtilization: s.targetUtilization,
    maxStepUp: s.maxStepUp,
    maxStepDown: s.maxStepDown,
  },
})

/** The rows where two schedules differ, for a failure message that shows them. */
const differences = (a: number[], b: number[]) =>
  a.flatMap((v, t) => (v === b[t] ? [] : [{ row: t, simulator: v, live: b[t] }]))

const SERIES = [
  ['a diurnal ramp with a surge', diurnalWithSurge(420)],
  ['spiky load', spiky(360)],
] as const

describe('the live autoscaler decides as the simulator does on the same demand', () => {
  for (const [name, demand] of SERIES)
    it(`${name}: with the simulator's own lead-time forecasts, row by row`, async () => {
      const s = config({ maxStepDown: 4 })
      const opts = simOptions(s)
      const forecaster = new OnlineForecaster({
        lead: leadSteps(STEP, s.leadTimeMs),
        refitEvery: 24,
        level: 90,
      })
      const peaks: (PeakForecast | null)[] = demand.map((y) => {
        forecaster.update(y)
        const p = forecaster.peak()
        return p === null ? null : { point: p.point, upper: p.upper, model: p.model, level: p.level }
      })
      const sim = runSelecting(demand, opts, (t) => peaks[t])
      // the benchmark's runPredictive is this same replay with this forecaster
      expect(runPredictive(demand, { ...opts, refitEvery: 24, level: 90 }).schedule).toEqual(sim.schedule)
      // the live path gets the same peak as the forecast for the window starting now
      const live = await runLive(demand, s, (t) =>
        peaks[t] === null
          ? null
          : [{ atMs: T0 + (t + 1) * STEP, forecast: peaks[t]!.point, upper: peaks[t]!.upper }],
      )
      expect(differences(sim.schedule, live.schedule)).toEqual([])
      // one scale call per change of the count, at the decision's time
      expect(live.calls).toHaveLength(sim.actions)
      expect(sim.actions).toBeGreaterThan(5)
    }, 60_000)

  for (const [name, demand] of SERIES)
    it(`${name}: with a forecast bank's per-window points, the lead time covers the same windows`, async () => {
      const s = config()
      const opts = simOptions(s)
      const lead = leadSteps(STEP, s.leadTimeMs)
      // a bank that knows each window's demand: point = the demand, upper = 15 % above it
      const perWindow = (k: number) => ({ forecast: demand[k], upper: demand[k] * 1.15 })
      const sim = runSelecting(demand, opts, (t) => {
        let point = 0
        let upper = 0
        for (let k = t + 1; k <= Math.min(demand.length - 1, t + lead); k++) {
          point = Math.max(point, perWindow(k).forecast)
          upper = Math.max(upper, perWindow(k).upper)
        }
        return t + 1 < demand.length ? { point, upper, model: 'bank', level: 90 } : null
      })
      // the bank answers 30 windows ahead from the window after the newest one it saw
      const live = await runLive(demand, s, (t) => {
        const points: BankPoints = []
        for (let k = t + 1; k <= Math.min(demand.length - 1, t + 30); k++)
          points.push({ atMs: T0 + k * STEP, ...perWindow(k) })
        return points.length > 0 ? points : null
      })
      expect(differences(sim.schedule, live.schedule)).toEqual([])
    }, 60_000)

  it('a forecast fitted windows ago that ends before the lead time is asked for again, reaching it', async () => {
    const demand = SERIES[0][1]
    // a 10-minute start-up: 11 windows ahead, where the bank forecasts 30 and refits every 30
    const s = config({ leadTimeMs: 600_000 })
    const lead = leadSteps(STEP, s.leadTimeMs)
    const sim = runSelecting(demand, simOptions(s), (t) => {
      const ahead = demand.slice(t + 1, t + 1 + lead)
      return ahead.length === 0
        ? null
        : { point: Math.max(...ahead), upper: Math.max(...ahead) * 1.15, model: 'bank', level: 90 }
    })
    // as the control plane's bank: the newest scheduled fit, cut to the horizon asked for; asked
    // for more than it has, it fits now
    let fit = { from: -Infinity, n: 0 }
    const live = await runLive(demand, s, (t, horizon = 30) => {
      if (t - fit.from >= 30) fit = { from: t, n: 30 }
      if (horizon > fit.n) fit = { from: t, n: horizon }
      const points: BankPoints = []
      for (let k = fit.from + 1; k <= Math.min(demand.length - 1, fit.from + horizon); k++)
        points.push({ atMs: T0 + k * STEP, forecast: demand[k], upper: demand[k] * 1.15 })
      return points.length > 0 ? points : null
    })
    expect(differences(sim.schedule, live.schedule)).toEqual([])
  }, 60_000)

  it('a window found again by the next tick is not decided on twice', async () => {
    const demand = SERIES[0][1]
    const s = config()
    const sim = runSelecting(demand, simOptions(s), () => null)
    const live = await runLive(demand, s, () => null, true)
    expect(differences(sim.schedule, live.schedule)).toEqual([])
  }, 60_000)

  it('a service whose requests stop scales down as the simulator does on zero demand', async () => {
    // busy, then no request at all for an hour (no roll-up), then busy again
    const demand = SERIES[0][1].map((v, t) => (t >= 200 && t < 260 ? 0 : v))
    const s = config({ min: 2, maxStepDown: 4 })
    const sim = runSelecting(demand, simOptions(s), () => null)
    // the idle hour takes the simulator down to min once the stabilisation window passed
    expect(sim.schedule[259]).toBe(2)
    expect(sim.schedule[199]).toBeGreaterThan(2)
    for (const again of [false, true]) {
      const live = await runLive(demand, s, () => null, again, true)
      expect(differences(sim.schedule, live.schedule)).toEqual([])
    }
  }, 60_000)
})
