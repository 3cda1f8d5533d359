/**
 * @module Alert rules: which series a rule judges, and what it concludes about one window. Every
 * rule reads only its input (the window, the detector bank's bands, open anomalies, the newest
 * forecast) and, for the error-ratio rule, the series' stored history, so a replay of stored
 * history reaches the same conclusions as the live run.
 *
 * | kind | active when |
 * |---|---|
 * | latency | pN > threshold ms, or (adaptive) > factor × the top of the detector's expected band at this load |
 * | error-ratio | the upstream's ratio (its 5xx / requests sent upstream) > max(floor, its own q-quantile over history) and P(≥ that many errors \| baseline) < tailP |
 * | failure | 5xx / requests ≥ ratio, the gateway's own 503s included (it answers 503 when every target is down or ejected) |
 * | forecast | P(error ratio or p95 crosses its threshold within the horizon, the windows already over it left out) ≥ probability |
 * | anomaly | an anomaly of the listed metrics is open on the series with score ≥ minScore, its metric still outside the band recorded at its open |
 * | rate-limit | 429s / requests ≥ limitedRatio, or the rate ≥ budgetShare × the service's capacity budget |
 */
import type { AlertRuleConfig, Hold } from '../config/alerts-schema.js'
import { poissonSurprise, QUANTILE_MIN_REQUESTS } from '../detect/index.js'
import { sentCount, upstream5xx } from '../telemetry/types.js'
import type {
  AlertPoint,
  AlertSeries,
  Condition,
  FailureForecast,
  SeriesLevel,
  WindowInput,
} from './types.js'
import {
  fmtChance,
  fmtApart,
  fmtMetric,
  fmtMetricAgainstBand,
  fmtNum as fmt,
  fmtPct as pct,
  fmtPctApart,
  overWindows,
} from '../format.js'

export interface RuleContext {
  windowMs: number
  /** merged points of a series with startMs in [fromMs, toMs), oldest first (the store) */
  history?: (series: AlertSeries, fromMs: number, toMs: number) => Promise<AlertPoint[]>
  /** capacity budgets in requests per second by service (limits.services) */
  budgets: Readonly<Record<string, number>>
}

/** Windows a hold lasts: `2 windows` → 2; a duration → whole windows, rounded up; at least 1. */
export function holdWindows(h: Hold, windowMs: number): number {
  if ('windows' in h && h.windows !== undefined) return Math.max(1, h.windows)
  return Math.max(1, Math.ceil((h.ms ?? 0) / windowMs))
}

const any = (v: string | undefined, actual: string) => v === undefined || v === '*' || v === actual

/** True when the rule judges this series. */
export function ruleMatches(rule: AlertRuleConfig, series: AlertSeries, level: SeriesLevel): boolean {
  return (
    // an actuator rule is fed by the autoscaler (AlertEngine.signal), never by windows
    rule.kind !== 'actuator' &&
    rule.level === level &&
    any(rule.match.service, series.service) &&
    any(rule.match.route, series.route) &&
    any(rule.match.env, series.env)
  )
}

/** No data: the rule has nothing to judge this window against (history, band, forecast). */
function noData(metric: string, why: string, observed = 0): Condition {
  return {
    active: null,
    noData: 'baseline',
    metric,
    observed,
    expected: null,
    band: null,
    threshold: null,
    summary: why,
    details: {},
  }
}

/** No data: too few requests in the window (`what`: whose requests, for the summary). */
function fewRequests(metric: string, requests: number, minRequests: number, what = 'requests'): Condition {
  return {
    ...noData(metric, `${requests} ${what}, fewer than minRequests ${minRequests}`),
    noData: 'requests',
    details: { requests, minRequests },
  }
}

/**
 * True when this window certainly leaves the rule inactive or without data: the cheap test the
 * engine runs first, so a series with no alert costs a comparison or two per rule, not an
 * evaluation with evidence (most series, most windows).
 */
export function quickInactive(rule: AlertRuleConfig, input: WindowInput, ctx: RuleContext): boolean {
  const p = input.point
  switch (rule.kind) {
    case 'actuator':
      return true
    case 'latency': {
      const observed = p[rule.quantile]
      if (p.count < rule.minRequests || observed === null) return true
      if (rule.threshold !== 'adaptive') return observed <= rule.threshold
      const band = input.expected?.[rule.quantile]
      return band === undefined || observed <= Math.max(rule.floorMs, rule.factor * band.high)
    }
    case 'error-ratio':
      return sentCount(p) < rule.minRequests || p.upstreamErrorRatio <= rule.floor
    case 'failure':
      return p.count < Math.max(1, rule.minRequests) || (p.statusClass[4] ?? 0) / p.count < rule.ratio
    case 'forecast': {
      const f = input.forecast
      if (f === null) return true
      const e = rule.metric === 'p95' ? 0 : aheadOf(f.failure.errorRatio).probability
      const l = rule.metric === 'errorRatio' ? 0 : aheadOf(f.failure.p95).probability
      return Math.max(e, l) < rule.probability
    }
    case 'anomaly':
      for (const a of input.anomalies) if (anomalyCounts(rule, a, p)) return false
      return true
    case 'rate-limit': {
      if (p.count < rule.minRequests) return true
      const budget = input.level === 'service' ? ctx.budgets[input.series.service] : undefined
      return (
        p.limitedRatio < rule.limitedRatio &&
        (budget === undefined || p.ratePerSec < rule.budgetShare * budget)
      )
    }
  }
}

/**
 * The chance of a crossing still ahead: the forecast fitted without the windows already over the
 * threshold (`known: false` when too many were over it to fit without them). A forecast stored
 * before the forecaster kept it stands as it is.
 */
function aheadOf(f: FailureForecast | null): {
  known: boolean
  probability: number
  firstLikelyAtMs: number | null
  leftOut: number
} {
  if (f === null) return { known: false, probability: 0, firstLikelyAtMs: null, leftOut: 0 }
  if (f.newCrossing === undefined)
    return { known: true, probability: f.probability, firstLikelyAtMs: f.firstLikelyAtMs, leftOut: 0 }
  if (f.newCrossing === null) return { known: false, probability: 0, firstLikelyAtMs: null, leftOut: 0 }
  return { known: true, ...f.newCrossing }
}

/** Time ranges [from, to) whose windows are not normal history: the alert's current and earlier runs. */
export type Excluded = readonly (readonly [number, number])[]

/**
 * Judges one window. `excluded` are the alert's runs (pending or firing, current and earlier):
 * the error-ratio rule leaves their windows out of the history it compares against, so one
 * incident does not teach the rule that incidents are normal. `fired` is the evidence the alert's
 * run went active on: a rule that judges several signals reports its recovery on that one.
 */
export function evaluateRule(
  rule: AlertRuleConfig,
  input: WindowInput,
  ctx: RuleContext,
  excluded: Excluded = [],
  fired: Condition | null = null,
): Condition | Promise<Condition> {
  const p = input.point
  switch (rule.kind) {
    case 'actuator':
      return noData('actuator', 'an actuator rule judges no windows')
    case 'latency': {
      const q = rule.quantile
      const observed = p[q]
      if (p.count < rule.minRequests || observed === null) return fewRequests(q, p.count, rule.minRequests)
      const band = input.expected?.[q] ?? null
      if (rule.threshold === 'adaptive') {
        if (band === null) {
          // the bank leaves a quantile unjudged (no band) until the window had the requests to estimate it
          const sent = sentCount(p)
          const why =
            sent < QUANTILE_MIN_REQUESTS[q]
              ? `${q} is not judged below ${QUANTILE_MIN_REQUESTS[q]} requests sent (${sent} this window): it would be the slowest few`
              : `no expected ${q} yet (the detector bank is warming up)`
          return noData(q, why, observed)
        }
        const limit = Math.max(rule.floorMs, rule.factor * band.high)
        const [obs, lim] = fmtApart(observed, limit)
        return {
          active: observed > limit,
          metric: q,
          observed,
          expected: band.expected,
          band: [band.low, band.high],
          threshold: limit,
          summary: `${q} ${obs} ms ${observed > limit ? '>' : '≤'} ${lim} ms (expected ${fmt(band.expected)} ms at ${fmt(p.ratePerSec)} req/s, band ${fmtApart(band.low, band.high).join('–')} ms)`,
          details: { requests: p.count, ratePerSec: p.ratePerSec, factor: rule.factor },
        }
      }
      const [obs, lim] = fmtApart(observed, rule.threshold)
      return {
        active: observed > rule.threshold,
        metric: q,
        observed,
        expected: band?.expected ?? null,
        band: band === null ? null : [band.low, band.high],
        threshold: rule.threshold,
        summary: `${q} ${obs} ms ${observed > rule.threshold ? '>' : '≤'} ${lim} ms`,
        details: { requests: p.count, ratePerSec: p.ratePerSec },
      }
    }
    case 'error-ratio':
      return errorRatio(rule, input, ctx, excluded)
    case 'failure': {
      if (p.count < Math.max(1, rule.minRequests))
        return fewRequests('failedRatio', p.count, rule.minRequests)
      // what the clients saw: the gateway's own 503s (no healthy target) are the outage this rule is for
      const failed = p.statusClass[4] ?? 0
      const ratio = failed / p.count
      const own = p.refused5xx > 0 ? `${p.refused5xx} from the gateway with no healthy target, ` : ''
      return {
        active: ratio >= rule.ratio,
        metric: 'failedRatio',
        observed: ratio,
        expected: null,
        band: null,
        threshold: rule.ratio,
        summary: `${pct(ratio)} of ${p.count} requests failed (5xx; ${own}${p.connectErrors} connection errors, ${p.timeouts} timeouts)`,
        details: {
          requests: p.count,
          failed,
          gatewayFailed: p.refused5xx,
          connectErrors: p.connectErrors,
          timeouts: p.timeouts,
        },
      }
    }
    case 'forecast': {
      const f = input.forecast
      if (f === null) return noData('probability', 'no forecast of this series yet')
      const all = (rule.metric === 'any' ? (['errorRatio', 'p95'] as const) : ([rule.metric] as const))
        .map((m) => ({ m, f: f.failure[m] }))
        .filter((x): x is { m: typeof x.m; f: FailureForecast } => x.f !== null)
        .map((x) => ({ ...x, ahead: aheadOf(x.f) }))
      if (all.length === 0)
        return noData('probability', 'the forecast has no failure forecast of that metric')
      // a crossing already under way (or just ended) is the live rules' to tell, not a forecast's
      const picks = all.filter((x) => x.ahead.known)
      const unknown = all.filter((x) => !x.ahead.known)
      const tooMany = () =>
        noData(
          'probability',
          `${unknown.map((x) => `${x.m} over ${fmtMetric(x.m, x.f.threshold)}`).join(' and ')} in too many recent windows to forecast a crossing apart from it`,
        )
      if (picks.length === 0) return tooMany()
      const best = picks.reduce((a, b) => (b.ahead.probability > a.ahead.probability ? b : a))
      const active = best.ahead.probability >= rule.probability
      // the signal the alert fired on cannot be told apart from its failure: neither gone nor there
      if (!active && unknown.some((x) => x.m === fired?.details.forecastMetric)) return tooMany()
      // inactive (a recovery): tell of the signal the alert went active on, not whichever other
      // is now the likelier, or an error-ratio alert would resolve with "P(p95 crosses …)"
      const top = (!active && picks.find((x) => x.m === fired?.details.forecastMetric)) || best
      const { probability: prob, firstLikelyAtMs: likely, leftOut } = top.ahead
      const without =
        leftOut > 0
          ? ` leaving out the ${leftOut} window${leftOut === 1 ? '' : 's'} over it (${pct(top.f.probability)} with them)`
          : ''
      return {
        active,
        metric: 'probability',
        observed: prob,
        expected: null,
        band: null,
        threshold: rule.probability,
        summary: `P(${top.m} crosses ${fmtMetric(top.m, top.f.threshold)} within the horizon) = ${pct(prob)}${without}${likely !== null ? `, likely from ${new Date(likely).toISOString()}` : ''}`,
        details: {
          forecastMetric: top.m,
          ...top.f,
          probability: prob,
          firstLikelyAtMs: likely,
          probabilityWithCrossings: top.f.probability,
          leftOut,
          fittedOnWindowsTo: f.lastPointMs,
        },
      }
    }
    case 'anomaly': {
      const hits = input.anomalies.filter((a) => anomalyCounts(rule, a, p))
      if (hits.length === 0)
        return {
          active: false,
          metric: 'anomaly',
          observed: 0,
          expected: null,
          band: null,
          threshold: rule.minScore,
          summary:
            input.anomalies.length === 0
              ? 'no open anomaly'
              : 'no open anomaly of these metrics outside its band this window',
          details: {},
        }
      const a = hits.reduce((x, y) => (y.score > x.score ? y : x))
      const [observed, band] = fmtMetricAgainstBand(a.metric, a.observed, a.low, a.high)
      return {
        active: true,
        metric: 'anomaly',
        observed: a.observed,
        expected: a.expected,
        band: [a.low, a.high],
        threshold: rule.minScore,
        summary: `anomaly in ${a.metric}: ${observed}${overWindows(a.sustained)} against expected ${fmtMetric(a.metric, a.expected)} (band ${band}; ${a.detector}, score ${fmt(a.score, 2)})`,
        details: {
          anomaly: a.id,
          anomalyMetric: a.metric,
          score: a.score,
          detector: a.detector,
          open: hits.map((h) => h.id),
        },
      }
    }
    case 'rate-limit': {
      if (p.count < rule.minRequests) return fewRequests('limitedRatio', p.count, rule.minRequests)
      const budget = input.level === 'service' ? ctx.budgets[input.series.service] : undefined
      const limited = p.limitedRatio >= rule.limitedRatio
      const over = budget !== undefined && p.ratePerSec >= rule.budgetShare * budget
      const [limitedPct, atMostPct] = fmtPctApart(p.limitedRatio, rule.limitedRatio)
      const parts = [`${limitedPct} of requests refused with 429 (at most ${atMostPct})`]
      if (budget !== undefined) {
        const [rate, share] = fmtApart(p.ratePerSec, rule.budgetShare * budget)
        const of = rule.budgetShare === 1 ? '' : ` (${share} req/s at budgetShare ${rule.budgetShare})`
        parts.push(`${rate} req/s against a capacity budget of ${fmt(budget)} req/s${of}`)
      }
      // what crossed comes first: an alert fired on the budget read "0% of requests refused…"
      if (over && !limited) parts.reverse()
      return {
        active: limited || over,
        metric: over && !limited ? 'rate' : 'limitedRatio',
        observed: over && !limited ? p.ratePerSec : p.limitedRatio,
        expected: null,
        band: null,
        threshold: over && !limited ? rule.budgetShare * (budget ?? 0) : rule.limitedRatio,
        summary: parts.join('; '),
        details: {
          requests: p.count,
          limitedRatio: p.limitedRatio,
          ratePerSec: p.ratePerSec,
          budget: budget ?? null,
        },
      }
    }
  }
}

/**
 * An open anomaly counts for an anomaly rule this window when it is of the rule's metrics, scores
 * at least minScore, and its metric is still outside the band recorded at its open (one window's
 * band for a sustained count anomaly; the joint score has no value in the window: it counts while
 * open). From the window and the stored record alone, so a replay of stored history judges it as
 * the live run did.
 */
function anomalyCounts(
  rule: Extract<AlertRuleConfig, { kind: 'anomaly' }>,
  a: WindowInput['anomalies'][number],
  p: AlertPoint,
): boolean {
  if (rule.metrics !== undefined && !(rule.metrics as string[]).includes(a.metric)) return false
  if (a.score < rule.minScore) return false
  const x = anomalyValue(a.metric, p)
  if (x === null) return true
  // a window without requests has no latency: no evidence either way
  if (Number.isNaN(x)) return false
  // errors and 429s only count above their band; rate and latency on either side. A sustained
  // count anomaly's values are sums over its windows: a window compares with one window's band
  const band = a.sustained ?? a
  return x > band.high || (a.metric !== 'errors' && a.metric !== 'limitedRatio' && x < band.low)
}

/** The window's value of an anomaly metric, on the anomaly's scale (errors: the upstream's 5xx count); null: the metric has none (joint). */
function anomalyValue(metric: string, p: AlertPoint): number | null {
  switch (metric) {
    case 'rate':
      return p.ratePerSec
    case 'errors':
      return upstream5xx(p)
    case 'limitedRatio':
      return p.limitedRatio
    case 'p50':
    case 'p95':
    case 'p99':
      return p[metric] ?? Number.NaN
    default:
      return null
  }
}

async function errorRatio(
  rule: Extract<AlertRuleConfig, { kind: 'error-ratio' }>,
  input: WindowInput,
  ctx: RuleContext,
  excluded: Excluded,
): Promise<Condition> {
  // the service's own ratio: requests the gateway answered by itself (its 503s with no healthy
  // target, 429s) never reached the service and are neither its errors nor its requests
  const p = input.point
  const sent = sentCount(p)
  if (sent < rule.minRequests)
    return fewRequests(
      'errorRatio',
      sent,
      rule.minRequests,
      `requests sent upstream${p.refused > 0 ? ` (${p.refused} answered by the gateway itself)` : ''}`,
    )
  const ratio = p.upstreamErrorRatio
  const errors = upstream5xx(p)
  const below = (threshold: number, summary: string, details: Record<string, unknown> = {}): Condition => ({
    active: false,
    metric: 'errorRatio',
    observed: ratio,
    expected: null,
    band: null,
    threshold,
    summary,
    details: { requests: sent, errors, refused: p.refused, ...details },
  })
  // most windows stop here: no history is read unless the floor is crossed
  if (ratio <= rule.floor) {
    const [observed, floor] = fmtPctApart(ratio, rule.floor)
    return below(rule.floor, `error ratio ${observed} ≤ floor ${floor}`)
  }
  if (ctx.history === undefined) return noData('errorRatio', 'no history source', ratio)
  const past = (
    await ctx.history(input.series, p.startMs - rule.historyWindows * ctx.windowMs, p.startMs)
  ).filter((h) => sentCount(h) > 0 && !excluded.some(([from, to]) => h.startMs >= from && h.startMs < to))
  if (past.length < rule.minHistory)
    return noData(
      'errorRatio',
      `${past.length} windows of history, fewer than minHistory ${rule.minHistory}`,
      ratio,
    )
  const ratios = past.map((h) => h.upstreamErrorRatio).sort((a, b) => a - b)
  const q = quantileSorted(ratios, rule.quantile)
  // the baseline: pooled error ratio (Jeffreys prior) and the over-dispersion of the history
  let sumErr = 0
  let sumReq = 0
  for (const h of past) {
    sumErr += upstream5xx(h)
    sumReq += sentCount(h)
  }
  const p0 = (sumErr + 0.5) / (sumReq + 1)
  let pearson = 0
  for (const h of past) {
    const m = sentCount(h) * p0
    const d = upstream5xx(h) - m
    pearson += (d * d) / Math.max(m, 1e-9)
  }
  const phi = Math.max(1, pearson / Math.max(1, past.length - 1))
  const tail = Math.exp(-poissonSurprise(errors, sent * p0, phi, 'upper'))
  const threshold = Math.max(rule.floor, q)
  const active = ratio > threshold && tail < rule.tailP
  const [observed, limit] = fmtPctApart(ratio, threshold)
  return {
    active,
    metric: 'errorRatio',
    observed: ratio,
    expected: p0,
    band: [0, threshold],
    threshold,
    summary: `error ratio ${observed} (${errors} of ${sent}${p.refused > 0 ? ` sent upstream; ${p.refused} answered by the gateway itself left out` : ''}) ${ratio > threshold ? '>' : '≤'} ${limit} (p${fmt(100 * rule.quantile)} of ${past.length} windows, floor ${pct(rule.floor)}); P(≥ ${errors} errors | baseline ${pct(p0)}) is ${fmtChance(tail)}${active ? '' : tail >= rule.tailP ? `, not below tailP ${fmtChance(rule.tailP)}` : ''}`,
    details: {
      requests: sent,
      errors,
      refused: p.refused,
      baseline: p0,
      dispersion: phi,
      tailP: tail,
      historyWindows: past.length,
      quantile: q,
    },
  }
}

/** Linear interpolation between order statistics (type 7), as numpy's default. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  const h = (sorted.length - 1) * q
  const lo = Math.floor(h)
  const hi = Math.min(sorted.length - 1, lo + 1)
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo])
}
