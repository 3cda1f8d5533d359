/**
 * @module The runtime controls document as data: applying a patch (global or scoped to one
 * service, optionally expiring), dropping expired entries, and naming the entries that shaped one
 * request's limit (for 429 explanations). Pure functions; the limiter persists and propagates.
 *
 * Every entry has a path (`tiers.STD`, `clients.ip:10.0.0.7`, `defensive`,
 * `services.payments.classes.low`, `services.payments.defensive`) under which `entries` records
 * who set it, why, and until when. Service names and tier names have no dots; a client id or a
 * class name may, so it is always the last part of a path.
 */
import { isIP } from 'node:net'
import { VGL_ERR_LIMITS_BAD_INPUT, VGL_ERR_LIMITS_UNKNOWN_TIER } from '../errors.js'
import type { ControlEntry, Controls, ServiceControls } from './state.js'

/** A patch of the control input; a multiplier of `null` removes it. */
export interface ControlsPatch {
  tiers?: Record<string, number | null>
  classes?: Record<string, number | null>
  clients?: Record<string, number | null>
  defensive?: boolean
  /** applies `tiers`, `classes` and `defensive` to this service only */
  service?: string
  /** the entries this patch sets stop applying this long after the change (ms) */
  ttlMs?: number
}

/** One entry that shaped a request's limit. */
export interface AppliedControl {
  path: string
  /** the multiplier (defensive mode: the tier's defensive factor) */
  value: number
  actor: string
  reason: string
  expiresAt?: string
}

const GROUPS = ['tiers', 'classes', 'clients'] as const
const SERVICE = /^[A-Za-z0-9_-]+$/

/** Throws VGL_ERR_LIMITS_BAD_INPUT naming the field when the patch is not usable. */
export function checkPatch(patch: ControlsPatch): void {
  for (const group of GROUPS) {
    for (const [name, m] of Object.entries(patch[group] ?? {})) {
      if (m !== null && !(typeof m === 'number' && Number.isFinite(m) && m > 0)) {
        throw VGL_ERR_LIMITS_BAD_INPUT(
          `${group}.${name}: a multiplier is a number > 0 (e.g. 0.5 halves the limit), got ${JSON.stringify(m)}`,
        )
      }
    }
  }
  if (patch.service !== undefined) {
    if (!SERVICE.test(patch.service))
      throw VGL_ERR_LIMITS_BAD_INPUT(
        `service: expected a service name (letters, digits, _ and -), got ${JSON.stringify(patch.service)}`,
      )
    if (patch.clients !== undefined && Object.keys(patch.clients).length > 0)
      throw VGL_ERR_LIMITS_BAD_INPUT(
        'clients: client multipliers apply to every service; send them without "service"',
      )
  }
  if (patch.ttlMs !== undefined && !(Number.isInteger(patch.ttlMs) && patch.ttlMs > 0))
    throw VGL_ERR_LIMITS_BAD_INPUT(
      `ttlMs: expected a whole number of milliseconds > 0, got ${JSON.stringify(patch.ttlMs)}`,
    )
}

/** What a controls patch from an operator may name. */
export interface ControlNames {
  tiers: readonly string[]
  classes: readonly string[]
  services: readonly string[]
  /** API key ids; a client is one of them or `ip:ADDRESS` */
  keys: readonly string[]
}

/**
 * Throws naming the field and the known names when `patch` sets a multiplier on, or scopes to, a
 * tier, priority class, client or service that does not exist: a misspelled name would look
 * applied and change nothing. Removing (`null`) an entry that is in force in `current` is always
 * allowed, so an entry whose name has gone can still be cleared.
 */
export function checkPatchNames(patch: ControlsPatch, known: ControlNames, current: Controls): void {
  const svc = patch.service
  const scoped = svc !== undefined ? current.services?.[svc] : undefined
  if (svc !== undefined && scoped === undefined && !known.services.includes(svc))
    throw VGL_ERR_LIMITS_BAD_INPUT(`service: unknown service "${svc}" (known: ${list(known.services)})`)
  for (const group of GROUPS) {
    const inForce = group !== 'clients' && svc !== undefined ? (scoped?.[group] ?? {}) : current[group]
    for (const [name, m] of Object.entries(patch[group] ?? {})) {
      if (m === null && inForce[name] !== undefined) continue
      const field = `${group}.${name}`
      if (group === 'tiers' && !known.tiers.includes(name))
        throw VGL_ERR_LIMITS_UNKNOWN_TIER(field, name, list(known.tiers), name)
      if (group === 'classes' && !known.classes.includes(name))
        throw VGL_ERR_LIMITS_BAD_INPUT(
          `${field}: unknown priority class "${name}" (known: ${list(known.classes)}); classes are limits.classes in the config`,
        )
      if (group === 'clients' && !known.keys.includes(name) && !isClientIp(name))
        throw VGL_ERR_LIMITS_BAD_INPUT(
          `${field}: unknown client "${name}"; a client is an API key id (known: ${list(known.keys)}) or ip:ADDRESS`,
        )
    }
  }
}

function isClientIp(id: string): boolean {
  return id.startsWith('ip:') && isIP(id.slice(3)) !== 0
}

/** Names for a message: sorted, at most 20. */
function list(names: readonly string[]): string {
  if (names.length === 0) return 'none'
  const sorted = [...names].sort()
  return sorted.length > 20
    ? `${sorted.slice(0, 20).join(', ')}, … ${sorted.length - 20} more`
    : sorted.join(', ')
}

/** Fills what documents written before scoped controls lack. */
export function normalizeControls(c: Controls): Controls {
  return { ...c, services: c.services ?? {}, entries: c.entries ?? {} }
}

/** Applies a checked patch to `c` in place; `nowMs` stamps the entries and their expiry. */
export function patchControls(
  c: Controls,
  patch: ControlsPatch,
  meta: { actor: string; reason: string },
  nowMs: number,
): void {
  c.services ??= {}
  c.entries ??= {}
  const setAt = new Date(nowMs).toISOString()
  const entry: ControlEntry = { actor: meta.actor, reason: meta.reason, setAt }
  if (patch.ttlMs !== undefined) entry.expiresAt = new Date(nowMs + patch.ttlMs).toISOString()
  const svc = patch.service
  let scoped: ServiceControls | undefined
  if (svc !== undefined) scoped = c.services[svc] ??= { tiers: {}, classes: {}, defensive: false }
  const prefix = svc !== undefined ? `services.${svc}.` : ''
  for (const group of GROUPS) {
    const target = group !== 'clients' && scoped !== undefined ? scoped[group] : c[group]
    for (const [name, m] of Object.entries(patch[group] ?? {})) {
      const path = `${prefix}${group}.${name}`
      if (m === null) {
        delete target[name]
        delete c.entries[path]
      } else {
        target[name] = m
        c.entries[path] = { ...entry }
      }
    }
  }
  if (patch.defensive !== undefined) {
    const path = `${prefix}defensive`
    if (scoped !== undefined) scoped.defensive = patch.defensive
    else c.defensive = patch.defensive
    if (patch.defensive) c.entries[path] = { ...entry }
    else delete c.entries[path]
  }
  if (svc !== undefined) dropEmpty(c, svc)
  c.reason = meta.reason
  c.actor = meta.actor
  c.updatedAt = setAt
}

function dropEmpty(c: Controls, svc: string): void {
  const s = c.services[svc]
  if (s === undefined) return
  if (!s.defensive && Object.keys(s.tiers).length === 0 && Object.keys(s.classes).length === 0)
    delete c.services[svc]
}

/** Removes the value an entry path points at. */
function removePath(c: Controls, path: string): void {
  let rest = path
  let target: { tiers: Record<string, number>; classes: Record<string, number>; defensive: boolean } = c
  let svc: string | undefined
  if (rest.startsWith('services.')) {
    rest = rest.slice('services.'.length)
    const dot = rest.indexOf('.')
    if (dot < 0) return
    svc = rest.slice(0, dot)
    rest = rest.slice(dot + 1)
    const s = c.services[svc]
    if (s === undefined) return
    target = s
  }
  if (rest === 'defensive') target.defensive = false
  else {
    const dot = rest.indexOf('.')
    const group = rest.slice(0, dot)
    const name = rest.slice(dot + 1)
    if (group === 'clients' && svc === undefined) delete c.clients[name]
    else if (group === 'tiers' || group === 'classes') delete target[group][name]
  }
  if (svc !== undefined) dropEmpty(c, svc)
}

/**
 * The controls in force at `nowMs` (entries past their expiry removed, `c` untouched) and the
 * time the next entry expires (Infinity when none does).
 */
export function liveControls(c: Controls, nowMs: number): { live: Controls; nextExpiryMs: number } {
  const entries = c.entries ?? {}
  let next = Infinity
  let expired: string[] | null = null
  for (const [path, e] of Object.entries(entries)) {
    if (e.expiresAt === undefined) continue
    const at = Date.parse(e.expiresAt)
    if (at <= nowMs) (expired ??= []).push(path)
    else if (at < next) next = at
  }
  if (expired === null) return { live: normalizeControls(c), nextExpiryMs: next }
  const live = structuredClone(normalizeControls(c))
  for (const path of expired) {
    removePath(live, path)
    delete live.entries[path]
  }
  return { live, nextExpiryMs: next }
}

/**
 * The entries that shaped the limit of one request, with their metadata (entries set before
 * per-entry metadata existed take the document's last actor and reason).
 */
export function appliedControls(
  c: Controls,
  req: { service: string; tier: string; priority: string; clientId: string },
  defensiveFactor: number,
): AppliedControl[] {
  const out: AppliedControl[] = []
  const add = (path: string, value: number | undefined) => {
    if (value === undefined) return
    const e = c.entries[path]
    out.push({
      path,
      value,
      actor: e?.actor ?? c.actor,
      reason: e?.reason ?? c.reason,
      ...(e?.expiresAt !== undefined ? { expiresAt: e.expiresAt } : {}),
    })
  }
  add(`tiers.${req.tier}`, c.tiers[req.tier])
  add(`classes.${req.priority}`, c.classes[req.priority])
  add(`clients.${req.clientId}`, c.clients[req.clientId])
  const s = c.services[req.service]
  if (s !== undefined) {
    add(`services.${req.service}.tiers.${req.tier}`, s.tiers[req.tier])
    add(`services.${req.service}.classes.${req.priority}`, s.classes[req.priority])
  }
  if (c.defensive) add('defensive', defensiveFactor)
  else if (s?.defensive === true) add(`services.${req.service}.defensive`, defensiveFactor)
  return out
}
