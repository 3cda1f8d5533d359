/**
 * @module Numbers in the text people read (alert summaries, action reasons, the activity feed):
 * few digits, but never so few that two different numbers compared in one sentence print the
 * same ("p99 812 ms > 812 ms"). The dashboard has its own formatters (src/ui/lib/format.ts); the
 * server's text goes to chat, webhooks and terminals as it is, so it is formatted here.
 */

/**
 * Past six significant digits two numbers differ by float noise (a quantile interpolated between
 * equal values), not by anything a reader acts on: such a pair prints as it is.
 */
const MAX_DIGITS = 6

/**
 * `x` with `digits` significant digits; from 100 up, whole and grouped (`1,234`) unless more
 * digits are asked for than the integer part has.
 *
 * @example fmtNum(0.051234) // '0.0512'
 * @example fmtNum(812.4) // '812'
 * @example fmtNum(812.44, 4) // '812.4'
 */
export function fmtNum(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x)
  const a = Math.abs(x)
  if (a >= 100) {
    const decimals = Math.max(0, digits - (Math.floor(Math.log10(a)) + 1))
    return x.toLocaleString('en-US', { maximumFractionDigits: Math.min(20, decimals) })
  }
  return Number(x.toPrecision(digits)).toString()
}

/**
 * Two numbers read side by side (a value and its threshold, the ends of a range), each with
 * `digits` significant digits, or more where that prints two different numbers the same: both
 * get the digits that tell them apart (`0.0512` and `0.0508` stay, `812.4` and `812.1` instead
 * of `812` twice).
 *
 * @example fmtApart(0.05012, 0.05) // ['0.0501', '0.05']
 * @example fmtApart(812.4, 812.1) // ['812.4', '812.1']
 */
export function fmtApart(a: number, b: number, digits = 3): [string, string] {
  const d = digitsApart(a, b, digits)
  return [fmtNum(a, d), fmtNum(b, d)]
}

/** The significant digits (from `digits` up) that print `a` and `b` differently when they differ. */
export function digitsApart(a: number, b: number, digits = 3): number {
  let d = digits
  while (a !== b && fmtNum(a, d) === fmtNum(b, d) && d < MAX_DIGITS) d++
  return d
}

/** A ratio as a percentage: `0.0512` → `5.12%`. */
export const fmtPct = (ratio: number, digits = 3): string => `${fmtNum(100 * ratio, digits)}%`

/**
 * A small probability as people read one: a percentage down to 1%, then "1 in N" (N to two
 * significant digits), and "under 1 in a billion" below that (a tail of 3e-120 says no more).
 *
 * @example fmtChance(0.25) // '25%'
 * @example fmtChance(3.5e-5) // '1 in 29,000'
 * @example fmtChance(3.1e-120) // 'under 1 in a billion'
 */
export function fmtChance(p: number): string {
  if (!(p >= 0)) return String(p)
  if (p >= 0.01) return fmtPct(p)
  if (p < 1e-9) return 'under 1 in a billion'
  return `1 in ${fmtNum(Number((1 / p).toPrecision(2)))}`
}

/** Two ratios as percentages told apart as {@link fmtApart} does. */
export function fmtPctApart(a: number, b: number, digits = 3): [string, string] {
  const [x, y] = fmtApart(100 * a, 100 * b, digits)
  return [`${x}%`, `${y}%`]
}

const MS = { scale: 1, unit: ' ms' }
const PERCENT = { scale: 100, unit: '%' }
/** How a metric's values read: its scale (ratios as percentages) and the unit written after them. */
const METRIC_UNITS: Readonly<Record<string, { scale: number; unit: string; one?: string }>> = {
  rate: { scale: 1, unit: ' req/s' },
  ...{ p50: MS, p95: MS, p99: MS, meanLatencyMs: MS },
  errors: { scale: 1, unit: ' errors', one: ' error' },
  requests: { scale: 1, unit: ' requests', one: ' request' },
  distinctRoutes: { scale: 1, unit: ' routes', one: ' route' },
  ...{ limitedRatio: PERCENT, errorRatio: PERCENT, upstreamErrorRatio: PERCENT, failedRatio: PERCENT },
  probability: PERCENT,
}
const NO_UNIT = { scale: 1, unit: '' }

/** A count's unit agrees with it: `1 error`, `2 errors`. */
const withUnit = (u: { unit: string; one?: string }, text: string) =>
  `${text}${text === '1' && u.one !== undefined ? u.one : u.unit}`

/**
 * A value of an anomaly or alert metric with its unit: `812 ms`, `12.5 req/s`, `5.12%` (a ratio
 * as a percentage), `19 errors`; a metric without a known unit as a bare number.
 */
export function fmtMetric(metric: string, x: number, digits = 3): string {
  const u = METRIC_UNITS[metric] ?? NO_UNIT
  return withUnit(u, fmtNum(u.scale * x, digits))
}

/** Two values of a metric compared (observed and threshold), told apart, each with its unit. */
export function fmtMetricApart(metric: string, a: number, b: number): [string, string] {
  const u = METRIC_UNITS[metric] ?? NO_UNIT
  const [x, y] = fmtApart(u.scale * a, u.scale * b)
  return [withUnit(u, x), withUnit(u, y)]
}

/**
 * A range with its unit once, the ends told apart with at least `digits` significant digits:
 * `fmtRange(120, 340, ' ms')` → `120–340 ms`; one number when both ends print alike.
 */
export function fmtRange(low: number, high: number, unit = '', digits = 3): string {
  const d = digitsApart(low, high, digits)
  const [x, y] = [fmtNum(low, d), fmtNum(high, d)]
  return x === y ? `${x}${unit}` : `${x}–${y}${unit}`
}

/** A range of ratios as percentages, `%` once: `29.8–30.6%`. */
export const fmtPctRange = (low: number, high: number): string => fmtRange(100 * low, 100 * high, '%')

/**
 * A range of a metric with the unit once: `120–340 ms`, `0–2.98 errors`, `1–10%`; at least
 * `digits` significant digits (those that tell a value apart from the edge it crossed).
 */
export function fmtMetricRange(metric: string, low: number, high: number, digits = 3): string {
  const u = METRIC_UNITS[metric] ?? NO_UNIT
  return fmtRange(u.scale * low, u.scale * high, u.unit, digits)
}

/**
 * A value outside (or inside) a band, and the band: the value told apart from the edge it is
 * compared with, the band with the same digits. `[812.4 ms, 400–812.1 ms]`.
 */
export function fmtMetricAgainstBand(metric: string, x: number, low: number, high: number): [string, string] {
  const u = METRIC_UNITS[metric] ?? NO_UNIT
  const d = digitsApart(u.scale * x, u.scale * (x < low ? low : high))
  return [fmtMetric(metric, x, d), fmtMetricRange(metric, low, high, d)]
}

/** What a metric is called in a sentence; a metric whose unit names it (`15 errors`) has none. */
const METRIC_LABELS: Readonly<Record<string, string>> = {
  rate: 'rate ',
  p50: 'p50 ',
  p95: 'p95 ',
  p99: 'p99 ',
  limitedRatio: 'throttled ',
  errorRatio: 'error ratio ',
  upstreamErrorRatio: 'error ratio ',
  failedRatio: 'failed ',
  meanLatencyMs: 'mean latency ',
}

const labelOf = (metric: string): string =>
  METRIC_LABELS[metric] ?? (metric in METRIC_UNITS ? '' : `${metric} `)

/** A metric's name for people: `limitedRatio` → `throttled share`. */
export function metricName(metric: string): string {
  switch (metric) {
    case 'limitedRatio':
      return 'throttled share'
    case 'errors':
      return '5xx errors'
    case 'rate':
      return 'request rate'
    case 'joint':
      return 'rate, errors and latency together'
    default:
      return (METRIC_LABELS[metric] ?? `${metric} `).trim()
  }
}

/**
 * An anomaly's value against what was expected, units once per value and once per band, the
 * value told apart from the band's edge: `rate 28 req/s, expected 6.5 req/s (band 1.52–27.6
 * req/s)`, `15 errors, expected 0.32 errors (band 0–2.1 errors)`, `12 errors over the last 9 windows,
 * expected 0.4 errors (band 0–2.3 errors)`, `no requests for 3 windows, expected about 120 requests
 * a window (rate band 9.1–15 req/s)` for a route that went silent. A count, a latency or a share
 * is never below 0, a share never above 100 %: the band drawn around the expected value is cut there.
 */
export function fmtAnomalyValue(a: {
  metric: string
  observed: number
  expected: number
  low: number
  high: number
  /** a sustained count anomaly: the values are over its last `windows` windows */
  sustained?: { windows: number }
  /** a rate anomaly opened by a silence: windows without a request, and the requests a window expected */
  silence?: { windows: number; expectedPerWindow: number }
}): string {
  const low = Math.max(0, a.low)
  const high = a.metric === 'limitedRatio' ? Math.min(1, a.high) : a.high
  const [observed, band] = fmtMetricAgainstBand(a.metric, a.observed, low, high)
  if (a.silence !== undefined) {
    const n = a.silence.windows
    return `no requests for ${n} ${n === 1 ? 'window' : 'windows'}, expected about ${fmtNum(a.silence.expectedPerWindow, 2)} requests a window (rate band ${band})`
  }
  return `${labelOf(a.metric)}${observed}${overWindows(a.sustained)}, expected ${fmtMetric(a.metric, a.expected)} (band ${band})`
}

/**
 * ` over the last 9 windows` for a sustained count anomaly (its values are sums over them), so
 * that one opened with a single error in its latest window reads as what it is; nothing otherwise.
 */
export function overWindows(sustained: { windows: number } | undefined): string {
  return sustained !== undefined && sustained.windows > 1 ? ` over the last ${sustained.windows} windows` : ''
}

/** What a client's error-ratio feature counts, in words (the dashboard says the same). */
export const CLIENT_FAILED_LABEL = 'refused at its own limit or failed'

/**
 * A client feature that stands out against the typical client's: `refused at its own limit or
 * failed 73.2% against a typical 22.7%`. A client's error ratio counts what the client did itself:
 * the requests its own limit refused (429), its 4xx answers, and its 5xx beyond its peers' on the
 * same routes; not the 429s of defensive mode or a lowered limit, nor an outage every client saw.
 * So it is not called an error ratio, which would read as every 5xx answer.
 */
export function fmtAgainstTypical(feature: string, observed: number, typical: number): string {
  const [x, y] = fmtMetricApart(feature, observed, typical)
  return `${feature === 'errorRatio' ? `${CLIENT_FAILED_LABEL} ` : labelOf(feature)}${x} against a typical ${y}`
}
