/**
 * @module Silences, Alertmanager-style: label matchers (`=`, `!=`, `=~`, `!~`; regexes anchored
 * to the whole value), a time range, who made it and why. An alert whose labels match every
 * matcher of an active silence is not sent; when the silence ends and the alert still fires, it
 * is sent then.
 */
import { closestKey } from '../config/index.js'
import { routeName, type Config } from '../config/schema.js'
import type { SilenceMatcher, StoredSilence } from '../store/index.js'

export type { SilenceMatcher, StoredSilence as Silence }

const MATCHER = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^,]*?))\s*$/

/**
 * Parses `service="orders", env=~"prod|staging"` (or an array of such strings) into matchers;
 * throws an Error naming the bad part.
 * @example
 * parseMatchers('service=orders, severity!=info')
 * // [{ name: 'service', value: 'orders', isRegex: false, isEqual: true }, { name: 'severity', value: 'info', isRegex: false, isEqual: false }]
 */
export function parseMatchers(text: string): SilenceMatcher[] {
  const parts = text.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/).filter((p) => p.trim() !== '')
  return parts.map((part) => {
    const m = MATCHER.exec(part)
    if (m === null)
      throw new Error(`"${part.trim()}" is not a matcher like name="value", name!=value, name=~"regex"`)
    const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : (m[4] ?? '')
    return checkMatcher({ name: m[1], value, isRegex: m[2].includes('~'), isEqual: !m[2].startsWith('!') })
  })
}

/** Throws when a regex matcher does not compile. */
export function checkMatcher(m: SilenceMatcher): SilenceMatcher {
  if (m.isRegex)
    try {
      new RegExp(`^(?:${m.value})$`)
    } catch (err) {
      throw new Error(`matcher ${m.name}: ${(err as Error).message}`)
    }
  return m
}

/**
 * Every label an alert can carry: per label whose values the config fixes, every value an alert
 * can carry in it; null for a label of any value.
 */
export type SilenceLabels = Readonly<Record<string, readonly string[] | null>>

/** The labels the engine gives every alert (src/alerts/engine.ts), beside each rule's `labels`. */
const ALERT_LABELS = ['alertname', 'severity', 'kind', 'service', 'route', 'env'] as const

/**
 * The labels alerts carry: `service` (a configured service) and `route` (a route's name), each
 * also `*` (the global series has no service, a service series no route), whose values come from
 * the config; the other built-in labels and every rule's own `labels`, of any value.
 */
export function silenceLabels(
  config: Pick<Config, 'services' | 'routes'> & Partial<Pick<Config, 'alerts'>>,
): SilenceLabels {
  const any: Record<string, null> = {}
  for (const name of ALERT_LABELS) any[name] = null
  for (const rule of config.alerts?.rules ?? []) for (const name of Object.keys(rule.labels)) any[name] = null
  return {
    ...any,
    service: [...Object.keys(config.services), '*'],
    route: [...new Set(config.routes.map(routeName)), '*'],
  }
}

/**
 * Why an exact `name="value"` matcher can never match, or null: a misspelt service would leave
 * the silence in place while the pages it was meant to stop go out. Regex and negative matchers,
 * and labels without a fixed set of values, are not checked: a regex is the way to silence a
 * service this config does not name yet.
 * @example
 * unmatchable({ name: 'service', value: 'ordrs', isRegex: false, isEqual: true }, { service: ['orders', '*'] })
 * // 'service="ordrs" matches no alert: no service "ordrs" is configured (known: orders, *; for one
 * // not configured yet, use a regex: service=~"ordrs"); did you mean "orders"?'
 */
export function unmatchable(m: SilenceMatcher, labels: SilenceLabels): string | null {
  const names = Object.keys(labels)
  // a label no alert carries reads as "": `sevrity="critical"` silences nothing, `sevrity!="x"` all
  if (names.length > 0 && !names.includes(m.name)) {
    const meant = closestKey(m.name, names)
    return (
      `no alert carries a label "${m.name}" (labels: ${names.join(', ')})` +
      `${meant !== undefined ? `; did you mean "${meant}"?` : ''}`
    )
  }
  const known = labels[m.name]
  if (known === undefined || known === null || m.isRegex || !m.isEqual || known.includes(m.value)) return null
  const meant = closestKey(m.value, known)
  return (
    `${m.name}="${m.value}" matches no alert: no ${m.name} "${m.value}" is configured ` +
    `(known: ${known.join(', ')}; for one not configured yet, use a regex: ${m.name}=~"${m.value}")` +
    `${meant !== undefined ? `; did you mean "${meant}"?` : ''}`
  )
}

const compiled = new WeakMap<SilenceMatcher, RegExp>()

function matches(m: SilenceMatcher, labels: Readonly<Record<string, string>>): boolean {
  const v = labels[m.name] ?? ''
  let hit: boolean
  if (m.isRegex) {
    let re = compiled.get(m)
    if (re === undefined) compiled.set(m, (re = new RegExp(`^(?:${m.value})$`)))
    hit = re.test(v)
  } else hit = v === m.value
  return m.isEqual ? hit : !hit
}

/** The first silence active at `atMs` whose matchers all match `labels`, or null. */
export function silencing(
  silences: readonly StoredSilence[],
  labels: Readonly<Record<string, string>>,
  atMs: number,
): StoredSilence | null {
  for (const s of silences)
    if (s.startsAtMs <= atMs && atMs < s.endsAtMs && s.matchers.every((m) => matches(m, labels))) return s
  return null
}
