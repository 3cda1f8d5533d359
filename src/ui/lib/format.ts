/** Number and time formatting for people: few digits, units always shown. */

export function fmtNum(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–'
  const a = Math.abs(x)
  // `200k`, not `200.0k`
  if (a >= 1e6) return `${Number((x / 1e6).toFixed(1))}M`
  if (a >= 1e4) return `${Number((x / 1e3).toFixed(1))}k`
  // more digits than the integer part has only when asked for (to tell two numbers apart)
  if (a >= 100) return String(Number(x.toFixed(Math.max(0, digits - (Math.floor(Math.log10(a)) + 1)))))
  if (a === 0) return '0'
  // JavaScript writes these as "7.72e-10"; at three digits they are nothing worth telling apart
  if (a < 1e-6) return '≈0'
  return Number(x.toPrecision(digits)).toString()
}

const absent = (x: number | null | undefined): x is null | undefined =>
  x === null || x === undefined || !Number.isFinite(x)

/**
 * A rate with its unit; a rate not known yet is a bare dash, not "– req/s". `extra`: digits beyond
 * the usual, to tell two numbers apart (see {@link extraDigits}); the same for the formatters below.
 */
export const fmtRate = (x: number | null | undefined, extra = 0): string =>
  absent(x) ? '–' : `${fmtNum(x, 3 + extra)} req/s`
/**
 * A latency: `38.5 ms`, `1.5 s` (not `1.50 s`, nor an axis ticked `1.00 s`, `2.00 s`), and under a
 * millisecond to a hundredth (`0.1 ms`, not `0.0957 ms`): no one times a request more finely.
 */
export function fmtMs(x: number | null | undefined, extra = 0): string {
  if (absent(x)) return '–'
  if (x >= 1000) return `${fmtNum(x / 1000, 3 + extra)} s`
  if (x > 0 && x < 1) {
    const hundredths = Number(x.toFixed(2 + extra))
    return hundredths === 0 ? `<${(10 ** -(2 + extra)).toFixed(2 + extra)} ms` : `${hundredths} ms`
  }
  return `${fmtNum(x, 3 + extra)} ms`
}
/**
 * A share as a percentage. One short of all by a thousandth of a percent or more does not read
 * `100%`: "100% of journeys succeed" beside 52 failed requests reads as a contradiction, so it takes
 * the digits that show the shortfall (`99.97%`).
 */
export function fmtPct(x: number | null | undefined, extra = 0): string {
  if (absent(x)) return '–'
  const pct = (digits: number) => `${fmtNum(100 * x, digits)}%`
  if (x >= 1 || pct(2 + extra) !== '100%') return pct(2 + extra)
  for (let digits = 3 + extra; digits <= 5 + extra; digits++) if (pct(digits) !== '100%') return pct(digits)
  return '100%'
}

/** A count with its noun: `1 service`, `3 services`; `plural` for nouns that do not just take an s. */
export function fmtCount(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`
}

export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–'
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

/** A time in the reader's clock, with the date (`Dec 6 07:53:10 AM`) only when it is not today. */
export function fmtWhen(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–'
  const d = new Date(ms)
  return d.toDateString() === new Date(now).toDateString()
    ? fmtTime(ms)
    : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${fmtTime(ms)}`
}

/**
 * How long ago something happened: `fmtAgo` for a time known to be past (a window that closed, an
 * alert that fired). A page's clock ticks every few seconds and the browser's clock may run behind
 * the server's, so such a time can lie a little after `now`: it reads "just now", never "in 1s".
 */
export function fmtSince(ms: number | null | undefined, now = Date.now()): string {
  return fmtAgo(ms === null || ms === undefined ? ms : Math.min(ms, now), now)
}

/** `ms` ago, or `in …` for a time ahead (when a silence or a multiplier expires). */
export function fmtAgo(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–'
  const s = Math.round((now - ms) / 1000)
  if (s < 0) return `in ${fmtDuration(-s * 1000)}`
  if (s < 5) return 'just now'
  return `${fmtDuration(s * 1000)} ago`
}

export function fmtDuration(ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60 ? `${s % 60}s` : ''}`.trim()
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
}

/** The value formatter for an anomaly's metric; `extra` digits as for {@link fmtRate}. */
export function fmtMetric(metric: string, x: number, extra = 0): string {
  switch (metric) {
    case 'rate':
      return fmtRate(x, extra)
    case 'p50':
    case 'p95':
    case 'p99':
      return fmtMs(x, extra)
    case 'limitedRatio':
    case 'errorRatio':
    case 'failedRatio':
    case 'probability':
      return fmtPct(x, extra)
    case 'errors':
      return `${fmtNum(x, 3 + extra)} errors`
    default:
      return fmtNum(x, 3 + extra)
  }
}

/**
 * The digits beyond the usual (up to 3) that `f` needs to print two different numbers
 * differently: an observed value and the threshold it crossed must not both read `812 ms`.
 */
export function extraDigits(a: number, b: number, f: (x: number, extra: number) => string): number {
  let extra = 0
  while (a !== b && f(a, extra) === f(b, extra) && extra < 3) extra++
  return extra
}

const LATENCY = new Set(['p50', 'p95', 'p99'])

/**
 * A value of an alert's evidence, written as the alert's summary beside it writes it: a latency
 * in ms, grouped (`1,557 ms`, where {@link fmtMs} would say `1.56 s`), so one value reads one way
 * on the page; other metrics as {@link fmtMetric}.
 */
export function fmtEvidence(metric: string, x: number, extra = 0): string {
  if (!LATENCY.has(metric) || absent(x)) return fmtMetric(metric, x, extra)
  const digits = 3 + extra
  const a = Math.abs(x)
  const text =
    a >= 100
      ? x.toLocaleString('en-US', {
          maximumFractionDigits: Math.max(0, digits - (Math.floor(Math.log10(a)) + 1)),
        })
      : Number(x.toPrecision(digits)).toString()
  return `${text} ms`
}

export const METRIC_NAMES: Record<string, string> = {
  rate: 'request rate',
  errors: '5xx errors',
  p50: 'p50 latency',
  p95: 'p95 latency',
  p99: 'p99 latency',
  limitedRatio: 'throttled share',
  errorRatio: '5xx ratio',
  failedRatio: 'failed share',
  probability: 'failure probability',
  anomaly: 'anomaly score',
  joint: 'rate, errors and latency together',
  client: 'client behaviour',
}

/**
 * What makes a client stand out, for people: `refused at its own limit or failed 85% (typical 33.8%)`,
 * `40 requests (typical 3.47 requests)`. Its `errorRatio` counts what the client did itself (429s
 * of its own limit, 4xx, 5xx beyond its peers' on the same routes), not every 5xx answer, so it is
 * not called an error ratio: beside the 5xx/429 column it would read as a contradiction.
 */
export function fmtClientFeature(feature: string, observed: number, typical: number): string {
  const [name, value]: [string, (x: number) => string] =
    feature === 'errorRatio'
      ? ['refused at its own limit or failed ', (x) => fmtPct(x)]
      : feature === 'meanLatencyMs'
        ? ['mean latency ', (x) => fmtMs(x)]
        : feature === 'requests' || feature === 'distinctRoutes'
          ? ['', (x) => `${fmtNum(x)} ${feature === 'requests' ? 'requests' : 'routes'}`]
          : [`${feature} `, (x) => fmtNum(x)]
  return `${name}${value(observed)} (typical ${value(typical)})`
}

/** `orders|/orders|demo` → readable parts; `*` is "all". */
export function keyLabel(key: string): string {
  const [service, route, env] = key.split('|')
  const where = env === undefined || env === '' ? '' : env === '*' ? ' · all environments' : ` · ${env}`
  if (service === '*') return `all services${env === '*' ? '' : where}`
  if (route === '*' || route === undefined) return `${service}${where}`
  return `${service} ${route}${where}`
}

/**
 * A journey site in words: `shop|onprem>inventory|onprem` (the calls from the entry down to the
 * site, each `service|env`) reads "shop (onprem) → inventory (onprem)".
 */
export function sitePath(key: string): string {
  const unesc = (part: string) => part.replace(/%7C/gi, '|').replace(/%25/g, '%')
  return key
    .split('>')
    .map((node) => {
      const i = node.indexOf('|')
      const service = unesc(i < 0 ? node : node.slice(0, i))
      const env = i < 0 ? '' : unesc(node.slice(i + 1))
      return env === '' ? service : `${service} (${env})`
    })
    .join(' → ')
}

/** A series key's parts, or null when `key` is not `service|route|env` (a hand-typed link). */
export function parseSeriesKey(key: string): { service: string; route: string; env: string } | null {
  const parts = key.split('|')
  if (parts.length !== 3 || parts.some((p) => p === '')) return null
  const [service, route, env] = parts
  return { service, route, env }
}

/**
 * A value with its interval: `12 (8 – 15)`; one number when the interval is a point or reads as
 * one (`10`, not `10 (10 – 10)`); `unknown` when absent.
 */
export function fmtInterval(
  x: { value: number; low: number; high: number } | null | undefined,
  f: (v: number) => string,
): string {
  if (x === null || x === undefined) return 'unknown'
  const [low, high] = [f(x.low), f(x.high)]
  return low === high ? f(x.value) : `${f(x.value)} (${low} – ${high})`
}

/**
 * An alert impact's share of requests missing the SLO, with its interval and what missing means:
 * `27% (24% – 30%) fail or take over 1 s`; null for an impact without it (an alert
 * recorded before the share was estimated).
 */
export function fmtSloMiss(impact: {
  sloMissRatio?: { value: number; low: number; high: number } | null
  sloLatencyMs?: number
}): string | null {
  if (impact.sloMissRatio === null || impact.sloMissRatio === undefined) return null
  const over = impact.sloLatencyMs === undefined ? '' : ` or take over ${fmtMs(impact.sloLatencyMs)}`
  return `${fmtInterval(impact.sloMissRatio, fmtPct)} fail${over}`
}

/** An ISO-8601 instant as the server writes it in its messages (UTC, `Z` or an offset). */
const ISO_INSTANT = /\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})/g

/**
 * A server message with its times in the reader's clock: the server writes UTC (the same text goes
 * to chat and webhooks, where only UTC is unambiguous), the dashboard shows local time, with the
 * date when it is not today's.
 */
export function localTimes(text: string, now = Date.now()): string {
  return text.replace(ISO_INSTANT, (iso) => {
    const ms = Date.parse(iso)
    return Number.isFinite(ms) ? fmtWhen(ms, now) : iso
  })
}

/** A series key as the server writes it in its messages (`payments|*|demo`, `*|*|*`). */
const SERIES_KEY = /(?<![\w|*/.-])(?:[\w.-]+|\*)\|[^\s|]+\|(?:[\w.-]+|\*)(?![\w|*])/g

/**
 * A server message with its series keys as the rest of the dashboard names them: "anomaly on all
 * services", "alert.firing payments · demo", not `*|*|*` and `payments|*|demo`.
 */
export function readableKeys(text: string): string {
  return text.replace(SERIES_KEY, (key) => keyLabel(key))
}

/**
 * The leaves of a JSON value by path (`a.b`, `list[0].name`): scalars, and lists of scalars
 * (`["GET","POST"]` reads well whole); empty objects have none.
 */
function leaves(x: unknown, at: string, out: Map<string, unknown>): Map<string, unknown> {
  if (Array.isArray(x) && x.some((v) => v !== null && typeof v === 'object')) {
    x.forEach((v, i) => leaves(v, `${at}[${i}]`, out))
  } else if (x !== null && typeof x === 'object' && !Array.isArray(x)) {
    for (const [k, v] of Object.entries(x)) leaves(v, at === '' ? k : `${at}.${k}`, out)
  } else if (at !== '' || x !== undefined) out.set(at, x)
  return out
}

function leafText(x: unknown): string {
  if (x === undefined || x === null || x === '') return '–'
  const s = typeof x === 'string' ? x : JSON.stringify(x)
  return s.length > 60 ? `${s.slice(0, 60)}…` : s
}

/** A number or a switch: the settings an operator changes, listed before the text beside them. */
const isSetting = (x: unknown) => typeof x === 'number' || typeof x === 'boolean'

/**
 * What an audited change changed, one `path: before → after` line per changed field, settings
 * (numbers, switches) first, without the resource's own record of who changed it, why and when
 * (unless nothing else changed): a whole resource is mostly unchanged, and its JSON buries the one
 * number an operator edited. A created resource is `created` and its fields, a removed one
 * `removed`. Times inside are left as written: `localTimes` converts the line.
 */
export function changedFields(before: unknown, after: unknown): string[] {
  if (before === null || before === undefined) {
    if (after === null || after === undefined) return []
    const fields = [...leaves(after, '', new Map())]
    if (fields.length === 1 && fields[0]![0] === '') return [`created: ${leafText(after)}`]
    const sorted = [...fields].sort(([, x], [, y]) => Number(isSetting(y)) - Number(isSetting(x)))
    return ['created', ...sorted.map(([path, v]) => `${path}: ${leafText(v)}`)]
  }
  if (after === null || after === undefined) return ['removed']
  const a = leaves(before, '', new Map())
  const b = leaves(after, '', new Map())
  const changed: Array<{ line: string; setting: boolean }> = []
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const was = a.get(path)
    const is = b.get(path)
    if (JSON.stringify(was) === JSON.stringify(is)) continue
    changed.push({
      line: `${path === '' ? 'value' : path}: ${leafText(was)} → ${leafText(is)}`,
      setting: isSetting(was) || isSetting(is),
    })
  }
  if (changed.length === 0) return ['no change']
  // who, why and when are the audit row's own columns: their copies inside the resource (the
  // document's and each entry's) would bury the one value that changed
  const fields = changed.filter((c) => !RECORD_KEEPING.test(c.line))
  return (fields.length > 0 ? fields : changed)
    .sort((x, y) => Number(y.setting) - Number(x.setting))
    .map((c) => c.line)
}

const RECORD_KEEPING = /^(?:[^:]*\.)?(?:actor|reason|updatedAt):/
