/**
 * @module What a reload changed, and which of those changes wait for a restart. A reload swaps the
 * gateway's route table, so routes, services and most of `gateway` apply at once; the control
 * plane takes the route list (detection) and `alerts`, the autoscaler the services' `scale` blocks.
 * Everything else built once at start (the listening socket and its timeouts, the admin API, the
 * limiter, the bus, the store, detection's and forecasting's settings, actuators) keeps its old
 * settings until Vigil restarts.
 */
import { formatPath } from './messages.js'

/** Most paths listed; a reload touching more is summarised by its first ones. */
const MAX_PATHS = 100

/** Set on the gateway's node:http server when it starts listening. */
const GATEWAY_AT_START = new Set([
  'host',
  'port',
  'headersTimeoutMs',
  'requestTimeoutMs',
  'keepAliveTimeoutMs',
  'idleTimeoutMs',
])

/** What the running process has, beyond the config it started with. */
export interface ReloadContext {
  /** an autoscaler runs (some service had a scale block at start) */
  scaling: boolean
}

/** `key` of either side, when that side is an object. */
function has(key: string, ...sides: unknown[]): boolean {
  return sides.some((v) => isPlainObject(v) && v[key] !== undefined)
}

/**
 * True when a change at `path` takes effect only after a restart; `before` and `after` are the
 * values there (a whole block added or removed counts by what it holds).
 */
export function needsRestart(
  path: readonly PropertyKey[],
  before?: unknown,
  after?: unknown,
  ctx: ReloadContext = { scaling: false },
): boolean {
  const [top, second, third, fourth] = path
  if (top === 'routes') {
    // the limiter reads each route's fallback at start
    if (third === undefined) return [before, after].some((r) => isPlainObject(r) && has('fallback', r.limit))
    return (
      third === 'limit' && (fourth === 'fallback' || (fourth === undefined && has('fallback', before, after)))
    )
  }
  if (top === 'services') {
    if (second === undefined) return true
    const scaleChanged = third === 'scale' || (third === undefined && has('scale', before, after))
    if (!scaleChanged) return false
    // no autoscaler runs when no service had a scale block at start
    if (!ctx.scaling) return true
    if (third === undefined || fourth === undefined) {
      const blocks = [before, after].map((v) => (third === undefined && isPlainObject(v) ? v.scale : v))
      // a scale block added or removed whole: started or stopped live, unless it learns its capacity
      return blocks.some((b) => isPlainObject(b) && isPlainObject(b.capacityPerReplica))
    }
    // actuators are opened once; a learned capacity's estimator is built once
    return (
      fourth === 'actuator' ||
      (fourth === 'capacityPerReplica' && !(typeof before === 'number' && typeof after === 'number'))
    )
  }
  if (top === 'gateway') return second === undefined || GATEWAY_AT_START.has(String(second))
  // the control plane's alerting takes new rules, sinks and their settings; turning it on or off
  // builds or drops the whole engine
  if (top === 'alerts') return second === undefined || second === 'enabled'
  return true
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

interface Change {
  path: PropertyKey[]
  before: unknown
  after: unknown
}

function diff(a: unknown, b: unknown, path: PropertyKey[], out: Change[]): void {
  if (out.length >= MAX_PATHS) return
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[k], b[k], [...path, k], out)
    return
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) diff(a[i], b[i], [...path, i], out)
    return
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path, before: a, after: b })
}

/** The fields a reload from `before` to `after` changed, and those of them that need a restart. */
export function reloadChanges(
  before: unknown,
  after: unknown,
): { changed: string[]; restartRequired: string[] } {
  const changes: Change[] = []
  diff(before, after, [], changes)
  const services = isPlainObject(before) && isPlainObject(before.services) ? before.services : {}
  const ctx = { scaling: Object.values(services).some((s) => isPlainObject(s) && s.scale !== undefined) }
  return {
    changed: changes.map((c) => formatPath(c.path)),
    restartRequired: changes
      .filter((c) => needsRestart(c.path, c.before, c.after, ctx))
      .map((c) => formatPath(c.path)),
  }
}
