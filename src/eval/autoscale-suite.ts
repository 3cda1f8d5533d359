/**
 * @module The autoscaling scenarios (seeded, so the bench commits a generator instead of CSVs):
 * two weeks of 1-minute request rates each, shaped like API traffic: a diurnal cycle with weekend
 * dips, plus what makes scaling hard.
 *
 * - `diurnal-growth`: the cycle with 4%/day growth and moderate noise;
 * - `sudden-spikes`: the cycle with spikes that reach full height within a minute: four a day from
 *   scheduled jobs (same minute ±2), two a day unannounced (×1.8–4, 2–20 min);
 * - `flash-crowd`: a calm base with two or three flash crowds (ramp ×5–10 over 3–15 min, decay over ~1 h);
 * - `noisy-bursts`: heavy autocorrelated noise with clustered bursts;
 * - `scheduled-jobs`: the cycle with cron-driven surges that reach full height at once: a job every
 *   15 minutes (×1.5–2.5 for 1–2 min) and one on the hour (×4–7 for 2–3 min), at a fixed minute,
 *   plus one unannounced surge a day.
 */
import { gaussian, rng } from '../forecast/stats.js'

export interface Scenario {
  readonly name: string
  readonly description: string
  readonly stepMs: number
  /** requests per second per row */
  readonly values: number[]
  /** epoch ms of the first row */
  readonly startMs: number
  /** sizing used by the bench for this scenario */
  readonly capacityPerReplica: number
}

export const SCENARIO_NAMES = [
  'diurnal-growth',
  'sudden-spikes',
  'flash-crowd',
  'noisy-bursts',
  'scheduled-jobs',
] as const
export type ScenarioName = (typeof SCENARIO_NAMES)[number]

const STEP_MS = 60_000
const DAYS = 14
const START_MS = Date.UTC(2026, 10, 2) // a Monday

/** Diurnal shape in [0.1, 1]: night trough near 04:00, peak in the afternoon, a lunch shoulder. */
function daily(hour: number): number {
  return Math.max(
    0.1,
    0.55 - 0.4 * Math.cos((2 * Math.PI * (hour - 4)) / 24) - 0.1 * Math.cos((4 * Math.PI * (hour - 1)) / 24),
  )
}

function weekly(day: number): number {
  return day >= 5 ? 0.6 : 1
}

/** Poisson-like count noise on a rate sampled over one minute, back to req/s. */
function counted(ratePerSec: number, g: () => number): number {
  const perMin = ratePerSec * 60
  return Math.max(0, perMin + Math.sqrt(perMin) * g()) / 60
}

function scenario(
  name: ScenarioName,
  description: string,
  values: number[],
  capacityPerReplica: number,
): Scenario {
  return { name, description, stepMs: STEP_MS, values, startMs: START_MS, capacityPerReplica }
}

/**
 * Generates one scenario; the same seed (and length) gives the same series. `days` (default 14)
 * sets the length, for runtime measurements on long series.
 */
export function generateScenario(name: ScenarioName, seed = 1, days = DAYS): Scenario {
  const u = rng(seed * 1_000_003 + SCENARIO_NAMES.indexOf(name) * 7919)
  const g = gaussian(u)
  const n = Math.round((days * 86_400_000) / STEP_MS)
  const values: number[] = []
  const hourOf = (i: number) => ((i * STEP_MS) / 3_600_000) % 24
  const dayOf = (i: number) => Math.floor((i * STEP_MS) / 86_400_000) % 7
  let ar = 0
  switch (name) {
    case 'diurnal-growth': {
      for (let i = 0; i < n; i++) {
        const growth = 1 + 0.04 * ((i * STEP_MS) / 86_400_000)
        ar = 0.8 * ar + 0.05 * g()
        values.push(counted(400 * daily(hourOf(i)) * weekly(dayOf(i)) * growth * Math.exp(ar), g))
      }
      return scenario(name, 'diurnal cycle, weekend dips, 4%/day growth, AR(1) noise', values, 25)
    }
    case 'sudden-spikes': {
      // scheduled jobs (a batch, a newsletter, cron) hit at the same minute every day, ±2 min;
      // others arrive unannounced
      const scheduled = [8 * 60, 12 * 60 + 30, 17 * 60 + 5, 21 * 60 + 40]
      const starts = new Map<number, { len: number; mul: number }>()
      for (let d = 0; d < days; d++) {
        for (const at of scheduled)
          starts.set(d * 1440 + at + Math.round((u() - 0.5) * 4), {
            len: 5 + Math.floor(u() * 11),
            mul: 2 + 1.5 * u(),
          })
        for (let k = 0; k < 2; k++)
          starts.set(d * 1440 + Math.floor(u() * 1440), {
            len: 2 + Math.floor(u() * 19),
            mul: 1.8 + 2.2 * u(),
          })
      }
      let spikeLeft = 0
      let spikeMul = 1
      for (let i = 0; i < n; i++) {
        const s = starts.get(i)
        if (s !== undefined) {
          spikeLeft = s.len
          spikeMul = s.mul
        }
        ar = 0.7 * ar + 0.04 * g()
        const mul = spikeLeft > 0 ? spikeMul : 1
        if (spikeLeft > 0) spikeLeft--
        values.push(counted(300 * daily(hourOf(i)) * weekly(dayOf(i)) * Math.exp(ar) * mul, g))
      }
      return scenario(
        name,
        'diurnal cycle, 4 daily scheduled spikes (±2 min) and 2 unannounced ones a day (x1.8-4 within a minute)',
        values,
        25,
      )
    }
    case 'flash-crowd': {
      const crowds: { at: number; ramp: number; height: number; decay: number }[] = []
      const count = 2 + Math.floor(u() * 2)
      for (let k = 0; k < count; k++)
        crowds.push({
          at: Math.floor((1.5 + (k * (days - 2)) / count + u()) * 1440),
          ramp: 3 + Math.floor(u() * 13),
          height: 5 + 5 * u(),
          decay: 40 + u() * 40,
        })
      for (let i = 0; i < n; i++) {
        let mul = 1
        for (const c of crowds) {
          const dt = i - c.at
          if (dt < 0) continue
          const extra =
            dt < c.ramp
              ? ((c.height - 1) * (dt + 1)) / c.ramp
              : (c.height - 1) * Math.exp(-(dt - c.ramp) / c.decay)
          mul += extra
        }
        ar = 0.8 * ar + 0.04 * g()
        values.push(counted(150 * (0.6 + 0.4 * daily(hourOf(i))) * Math.exp(ar) * mul, g))
      }
      return scenario(name, 'calm base, 2-3 flash crowds (x5-10 ramp over 3-15 min, ~1 h decay)', values, 40)
    }
    case 'noisy-bursts': {
      let burst = 0
      for (let i = 0; i < n; i++) {
        // bursts arrive in clusters: a burst makes the next one likelier for a while
        if (u() < (burst > 0.2 ? 0.08 : 0.01)) burst += 0.5 + u()
        burst *= 0.85
        ar = 0.9 * ar + 0.12 * g()
        values.push(counted(200 * (0.5 + 0.5 * daily(hourOf(i))) * Math.exp(ar) * (1 + burst), g))
      }
      return scenario(name, 'heavy autocorrelated noise with clustered bursts', values, 25)
    }
    case 'scheduled-jobs': {
      // cron fires at a fixed minute; what a run costs varies from run to run
      const quarterAt = Math.floor(u() * 15)
      const hourAt = Math.floor(u() * 60)
      const surprise = new Set(Array.from({ length: days }, (_, d) => d * 1440 + Math.floor(u() * 1440)))
      let left = 0
      let mul = 1
      for (let i = 0; i < n; i++) {
        const minute = i % 60
        if (minute === hourAt) {
          left = 2 + Math.floor(u() * 2)
          mul = 4 + 3 * u()
        } else if (minute % 15 === quarterAt && left === 0) {
          left = 1 + Math.floor(u() * 2)
          mul = 1.5 + u()
        } else if (surprise.has(i)) {
          left = 2 + Math.floor(u() * 4)
          mul = 2 + 2 * u()
        }
        ar = 0.7 * ar + 0.04 * g()
        const m = left > 0 ? mul : 1
        if (left > 0) left--
        values.push(counted(120 * daily(hourOf(i)) * weekly(dayOf(i)) * Math.exp(ar) * m, g))
      }
      return scenario(
        name,
        'diurnal cycle, cron surges at a fixed minute: every 15 min (x1.5-2.5, 1-2 min) and hourly (x4-7, 2-3 min), 1 unannounced a day',
        values,
        25,
      )
    }
  }
}
