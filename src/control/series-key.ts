/**
 * @module Series keys as text: `service|route|env`, e.g. `orders|/api/orders|prod`, with `*` for
 * rolled-up parts (`orders|*|prod` is the service in that env, `*|*|*` is global). In a URL the
 * whole key is percent-encoded (`encodeURIComponent`). A `|` or `%` inside a part is written `%7C`
 * / `%25`, so any route name round-trips.
 */
import { VGL_ERR_CONTROL_SERIES_KEY } from '../errors.js'
import type { SeriesKey } from '../telemetry/recorder.js'

const esc = (part: string) => part.replace(/%/g, '%25').replace(/\|/g, '%7C')
const unesc = (part: string) => part.replace(/%7C/gi, '|').replace(/%25/g, '%')

/**
 * @example
 * formatSeriesKey({ service: 'orders', route: '/api/orders', env: 'prod' }) // 'orders|/api/orders|prod'
 */
export function formatSeriesKey(s: SeriesKey): string {
  return `${esc(s.service)}|${esc(s.route)}|${esc(s.env)}`
}

/** Parses `service|route|env`; throws VGL_ERR_CONTROL_SERIES_KEY naming what is wrong. */
export function parseSeriesKey(key: string): SeriesKey {
  const parts = key.split('|')
  if (parts.length !== 3)
    throw VGL_ERR_CONTROL_SERIES_KEY(key, `expected three parts service|route|env, got ${parts.length}`)
  if (parts.some((p) => p === ''))
    throw VGL_ERR_CONTROL_SERIES_KEY(key, 'no part may be empty; use * for all')
  return { service: unesc(parts[0]), route: unesc(parts[1]), env: unesc(parts[2]) }
}

/** Which level a key is: a route, a `{service, env}` roll-up, or global. */
export function seriesLevel(s: SeriesKey): 'route' | 'service' | 'global' {
  if (s.service === '*' && s.route === '*' && s.env === '*') return 'global'
  return s.route === '*' ? 'service' : 'route'
}
