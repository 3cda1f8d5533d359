/** The figures of a what-if answer, as the Journeys page's table shows them. */
import { fmtInterval, fmtMs, fmtNum, fmtPct } from '../lib/format.js'
import type { Interval, Outcome, WhatIfAnswer } from '../lib/types.js'

export const iv = (x: Interval | null, f: (v: number) => string): string =>
  x === null ? '–' : fmtInterval(x, f)

export type Journey = WhatIfAnswer['journeys'][number]

/**
 * Users affected, saying when it is every user seen: each client sends many requests over the
 * horizon, so any failure rate worth asking about reaches them all, and the figure stops growing.
 */
function usersFigure(o: Outcome, j: Journey): string {
  const u = o.usersAffected
  if (u === null) return 'unknown (no client ids: limits are off)'
  const text = iv(u, (v) => fmtNum(Math.round(v)))
  const seen = j.usersSeen
  return seen !== null && seen > 0 && Math.round(u.value) >= seen ? `${text}: all ${seen} users seen` : text
}

/**
 * The p95 of the journeys that succeed: with a service down most fail at once, and a p95 over all
 * of them would be the time to fail, reading as a faster service.
 */
export function succeededP95(o: Outcome): string {
  return o.succeededLatencyMs === null ? 'n/a: every request failed' : iv(o.succeededLatencyMs.p95, fmtMs)
}

/**
 * Expected downtime minutes to a hundredth: a mean over runs that each count whole minutes, so
 * `0.00517` is noise worth `≈0`, not five digits.
 */
export function fmtDowntimeMinutes(v: number): string {
  if (v > 0 && v < 0.005) return '≈0'
  return fmtNum(Number(v.toFixed(2)))
}

/** What the answers judge against, from the answer itself (the server's `journeys:` settings). */
export type WhatIfTargets = Pick<WhatIfAnswer, 'slo' | 'downtimeErrorRatio'>

/**
 * The table's rows, each labelled with the target it is judged against: "the SLO" and "downtime"
 * alone hide that a journey failing 1% breaches a 99.9% SLO every time, and that a scenario
 * failing 21% of requests for 10 minutes is "10 minutes of downtime" only by the 5% threshold.
 */
export function whatIfRows(t: WhatIfTargets): ReadonlyArray<[string, (o: Outcome, j: Journey) => string]> {
  const within = `${fmtMs(t.slo.latencyMs)}`
  return [
    ['Journeys that succeed', (o) => iv(o.successProbability, fmtPct)],
    ['Latency p95 of the journeys that succeed', succeededP95],
    [`Requests missing the SLO (failed or over ${within})`, (o) => iv(o.requestSloMissRatio, fmtPct)],
    [
      `Chance the SLO (${fmtPct(t.slo.availability)} of requests succeed within ${within}) is missed over the horizon`,
      (o) => iv(o.sloBreachProbability, fmtPct),
    ],
    [
      `Minutes with over ${fmtPct(t.downtimeErrorRatio)} of requests failing (downtime)`,
      (o) => iv(o.expectedDowntimeMinutes, fmtDowntimeMinutes),
    ],
    ['Failed requests', (o) => iv(o.expectedFailedRequests, (v) => fmtNum(Math.round(v)))],
    [`Users affected (a request failed or over ${within})`, usersFigure],
  ]
}
