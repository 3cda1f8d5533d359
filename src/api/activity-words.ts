/**
 * @module The sentences of the activity list: each anomaly opened or resolved, each action the
 * control plane records (the action log) and each audited change (the audit log), told for people, with the numbers that
 * matter: `Scaled users 2 → 3 replicas (forecast: 41 req/s upper band over the next 2 min; 15
 * req/s per replica)`. Pure: a record in, a sentence out. The records are read defensively (they
 * come from the store and from older versions); a kind or shape it does not know reads as a
 * generic sentence built from the record's own reason.
 */
import { fmtAgainstTypical, fmtAnomalyValue, fmtNum, metricName } from '../format.js'

/** The fields of an action record (src/control/actions.ts) a sentence reads. */
export interface ActionWords {
  kind: string
  policy: string
  mode: string
  target: string
  before?: unknown
  after?: unknown
  reason: string
  evidence?: unknown
  result: { status: string; detail?: string }
}

/** The fields of an audit event (src/audit.ts) a sentence reads. */
export interface AuditWords {
  kind: string
  actor: string
  subject: string
  reason: string
  before?: unknown
  after?: unknown
}

type Rec = Record<string, unknown>

const recOf = (v: unknown): Rec | null =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rec) : null
const numOf = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null)
const strOf = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null)

const plural = (n: number, one: string, many = `${one}s`) => `${fmtNum(n)} ${n === 1 ? one : many}`
const reqs = (x: number) => `${fmtNum(x)} req/s`
const upper = (s: string) => s.charAt(0).toUpperCase() + s.slice(1)

/** `120000` → `2 min`, `30000` → `30 s`, `5400000` → `1.5 h`. */
export function fmtSpan(ms: number): string {
  if (ms < 60_000) return `${fmtNum(ms / 1000, 2)} s`
  if (ms < 3_600_000) return `${fmtNum(ms / 60_000, 2)} min`
  return `${fmtNum(ms / 3_600_000, 2)} h`
}

/** `service:users` → `users`, `client:acme` → `acme`. */
const nameOf = (target: string) => target.replace(/^(service|client):/, '')

/**
 * A series key as words: `payments|*|prod` → `payments (prod)`, `shop|/api/browse|demo` →
 * `shop /api/browse (demo)`, `*|*|*` → `all traffic`.
 */
export function seriesWords(key: string): string {
  const [service, route, env] = key.split('|')
  if (env === undefined) return key
  const what = service === '*' ? 'all services' : route === '*' ? service : `${service} ${route}`
  return env === '*' ? (service === '*' ? 'all traffic' : what) : `${what} (${env})`
}

/** The fields of an anomaly (src/control/anomalies.ts AnomalyRecord) a sentence reads. */
export interface AnomalyWords {
  key: string
  metric: string
  level: string
  observed: number
  expected: number
  low: number
  high: number
  score: number
  /** what makes a client stand out, the strongest first (an abusive client's anomaly) */
  children?: ReadonlyArray<{ key: string; observed: number; expected: number }>
  /** how and why it resolved (AnomalyRecord `resolvedBy`, `resolution`) */
  resolvedBy?: string
  resolution?: string
  /** a sustained count anomaly: its values are over its last `windows` windows */
  sustained?: { windows: number }
}

/**
 * The activity sentence of an anomaly opening or resolving, its series named as the rest of the
 * list names them: `Anomaly on shop (demo): 8 errors, expected 0.18 errors (band 0–1.8 errors),
 * score 0.68`, `Resolved: 5xx errors on payments /api/pay (prod) are back in their band`,
 * `Resolved: p99 on shop /cart (demo): too few requests to judge p99 for 10 windows (12 in the
 * last window; 100 needed)`.
 */
export function anomalySummary(a: AnomalyWords, transition: 'opened' | 'resolved'): string {
  const score = `score ${a.score.toFixed(2)}`
  if (a.level === 'client') {
    const client = a.key.replace(/^client:/, '')
    if (transition === 'resolved') return `Resolved: client ${client} no longer stands out from its peers`
    const top = a.children?.[0]
    const what =
      top !== undefined ? fmtAgainstTypical(top.key, top.observed, top.expected) : 'stands out from its peers'
    return `Abusive client ${client}: ${what}, ${score}`
  }
  const where = seriesWords(a.key)
  if (a.metric === 'joint')
    return transition === 'opened'
      ? `Anomaly on ${where}: rate, errors and latency together are unusual, ${score}`
      : `Resolved: rate, errors and latency on ${where} are usual again`
  if (transition === 'opened') return `Anomaly on ${where}: ${fmtAnomalyValue(a)}, ${score}`
  // not back in its band: say what ended it (a quiet route's quantile, a new level, an eviction)
  if (a.resolvedBy !== undefined && a.resolvedBy !== 'band' && a.resolution !== undefined)
    return `Resolved: ${metricName(a.metric)} on ${where}: ${a.resolution}`
  // `5xx errors` are many, `p95` and `throttled share` one
  const back = a.metric === 'errors' ? 'are back in their band' : 'is back in its band'
  return `Resolved: ${metricName(a.metric)} on ${where} ${back}`
}

/** A reason without the `manual: ` / `restart: ` the autoscaler puts before an operator's own. */
function operatorReason(reason: string): string | null {
  const r = reason.replace(/^(manual|restart)(: | \(no reason given\))/, '').trim()
  return r === '' ? null : r
}

/** ` (a; b)`, or nothing when there are no parts. */
const paren = (parts: ReadonlyArray<string | null>) => {
  const given = parts.filter((p): p is string => p !== null && p !== '')
  return given.length === 0 ? '' : ` (${given.join('; ')})`
}

/**
 * How an action's outcome reads: done (`Scaled`), under way (`Scaling`), only recorded in shadow
 * mode (`Would have scaled`) or failed (`Failed to scale`, with what failed).
 */
interface Verb {
  past: string
  ing: string
  base: string
}

/** Recorded in shadow mode: decided, not done (the result says `shadow`; the mode says so too). */
const shadowed = (a: ActionWords) => a.mode === 'shadow' || a.result.status === 'shadow'

function headline(a: ActionWords, verb: Verb, rest: string): string {
  if (shadowed(a)) return `Would have ${verb.past} ${rest}`
  switch (a.result.status) {
    case 'pending':
      return `${upper(verb.ing)} ${rest}`
    case 'failed':
      return `Failed to ${verb.base} ${rest}${a.result.detail ? `: ${a.result.detail}` : ''}`
    default:
      return `${upper(verb.past)} ${rest}`
  }
}

/** Headline plus the evidence, shadow mode first among it. */
const sentence = (a: ActionWords, verb: Verb, rest: string, evidence: ReadonlyArray<string | null>) =>
  headline(a, verb, rest) + paren([shadowed(a) ? 'shadow mode' : null, ...evidence])

const SCALE: Verb = { past: 'scaled', ing: 'scaling', base: 'scale' }

/** `users 2 → 3 replicas` */
function moveWords(service: string, before: unknown, after: unknown): string {
  const b = numOf(before)
  const n = numOf(after)
  if (n === null) return service
  return b === null ? `${service} to ${plural(n, 'replica')}` : `${service} ${b} → ${plural(n, 'replica')}`
}

/**
 * What drove an autoscaling decision (src/scale/policy.ts DecisionEvidence): the forecast when it
 * asked for more than the observed load did, else the observed load; the capacity per replica it
 * was sized with; and the selected rule when neither need reaches the count it asked for.
 */
function scaleEvidence(a: ActionWords): string[] {
  const e = recOf(a.evidence)
  if (e === null) return []
  // the scale-up to min at start, whatever the load
  const min = numOf(e.min)
  if (min !== null && e.observed === undefined) {
    const running = numOf(e.running)
    return [`min is ${min}`, running !== null ? `${running === 0 ? 'none' : running} running` : '']
  }
  const before = numOf(a.before) ?? 0
  const after = numOf(a.after) ?? 0
  const reactive = numOf(e.reactiveNeed)
  const predictive = numOf(e.predictiveNeed)
  const observed = numOf(e.observed)
  const parts: string[] = []
  const byForecast = after > before && predictive !== null && predictive > (reactive ?? 0)
  if (byForecast) {
    const point = numOf(e.forecast)
    const top = numOf(e.upper)
    const level = numOf(e.level)
    const ahead = numOf(e.aheadMs)
    const over = ahead !== null ? ` over the next ${fmtSpan(ahead)}` : ''
    if (top !== null && level !== null && level > 0 && point !== null && top > point)
      parts.push(`forecast: ${reqs(top)} upper band${over}`)
    else if (point !== null) parts.push(`forecast: ${reqs(point)} peak${over}`)
  }
  if (observed !== null) parts.push(`observed ${reqs(observed)}`)
  const cap = recOf(e.capacity)
  const per = numOf(cap?.perReplica)
  if (per !== null) parts.push(`${reqs(per)} per replica${cap?.learned === true ? ' (learned)' : ''}`)
  const rule = strOf(e.candidate)
  const needs = Math.max(reactive ?? 0, predictive ?? 0)
  if (rule !== null && after > before && needs < after) parts.push(`rule: ${rule}`)
  return parts
}

function scaleSentence(a: ActionWords): string {
  const service = nameOf(a.target)
  switch (a.kind) {
    case 'scale.replicas': {
      const move = moveWords(service, a.before, a.after)
      // a record without evidence (written before the scale-up to min carried any) says why in its reason
      if (recOf(a.evidence) === null) return sentence(a, SCALE, `${move}: ${a.reason}`, [])
      return sentence(a, SCALE, move, scaleEvidence(a))
    }
    case 'scale.manual':
      return sentence(a, SCALE, `${moveWords(service, a.before, a.after)} by hand`, [
        operatorReason(a.reason),
      ])
    case 'scale.restart': {
      const n = numOf(a.before)
      return sentence(
        a,
        { past: 'restarted', ing: 'restarting', base: 'restart' },
        `${service}${n !== null && n > 0 ? `, ${plural(n, 'replica')} one at a time` : ''}`,
        [operatorReason(a.reason)],
      )
    }
    case 'scale.adopt': {
      const e = recOf(a.evidence)
      const adopted = Array.isArray(e?.adopted) ? e.adopted.length : 0
      const stopped = (Array.isArray(e?.stopped) ? e.stopped : []).map(recOf).flatMap((r) => {
        const id = strOf(r?.id)
        return id === null
          ? []
          : [`stopped ${id}${strOf(r?.reason) !== null ? `: ${String(r?.reason)}` : ''}`]
      })
      return `Took over the replicas of ${service} left running by an earlier control plane${paren([
        adopted > 0 ? `adopted ${adopted}` : null,
        ...stopped,
        moveWords('', a.before, a.after).trim(),
      ])}`
    }
    case 'scale.alert':
      return `Scaling ${service} is failing: ${a.reason}`
    case 'scale.recovered':
      return `Scaling ${service} works again${paren([a.reason])}`
  }
  return genericAction(a)
}

/** An alert notification (src/alerts/engine.ts): the rule, where, and the condition's own summary. */
function alertSentence(a: ActionWords): string {
  const alert = recOf(a.after)
  const where = seriesWords(a.target)
  const severity = strOf(alert?.severity)
  const rule = `Alert "${a.policy}"${severity !== null && severity !== 'info' && a.kind !== 'alert.resolved' ? ` (${severity})` : ''}`
  const shadow = a.mode === 'shadow' ? ' (shadow mode: not sent)' : ''
  if (a.kind === 'alert.resolved') {
    const stale = alert?.resolvedBy === 'stale'
    const latest = strOf(recOf(alert?.latest)?.summary)
    const why = stale ? 'no traffic to judge' : (latest ?? a.reason.replace(/^resolved: /, ''))
    return `${rule} resolved on ${where}${shadow}: ${why}`
  }
  const summary = strOf(recOf(alert?.evidence)?.summary) ?? a.reason
  const fired = a.kind === 'alert.repeat' ? 'still firing' : 'fired'
  return `${rule} ${fired} on ${where}${shadow}: ${summary}`
}

/** A control entry path and value as words: `services.shop.tiers.STD: 0.5` → `STD ×0.5`. */
function entryWords(path: string, value: unknown): string {
  const tail = path.replace(/^services\.[^.]+\./, '')
  if (tail === 'defensive') return 'defensive mode'
  const name = tail.replace(/^(tiers|classes|clients)\./, '')
  return `${name} ×${typeof value === 'number' ? fmtNum(value) : String(value)}`
}

const entriesWords = (e: Rec | null): string =>
  Object.entries(e ?? {})
    .map(([p, v]) => entryWords(p, v))
    .join(', ')

/**
 * The evidence of an adaptive-limit policy's decision (src/control/policies/*): the forecast
 * against the budget, the strongest anomaly open on the service, or what makes a client stand
 * out; null when the evidence is not one of theirs.
 */
function limitEvidence(e: Rec | null, releasing: boolean): string[] | null {
  const band = numOf(e?.upperRatePerSec)
  const budget = numOf(e?.budgetRatePerSec)
  if (band !== null && budget !== null) {
    const look = numOf(e?.lookaheadMs)
    const step = numOf(e?.step)
    const steps = numOf(e?.steps)
    return [
      `forecast: ${reqs(band)} upper band${look !== null ? ` within ${fmtSpan(look)}` : ''} against a budget of ${reqs(budget)}`,
      // step 0 is no reduction: the headline says the limits were lifted
      step !== null && steps !== null && step > 0 ? `step ${step} of ${steps}` : '',
    ]
  }
  if (releasing) return null
  const anomalies = Array.isArray(e?.anomalies) ? e.anomalies.map(recOf) : []
  const top = anomalies[0]
  if (top !== null && top !== undefined && typeof top.key === 'string' && typeof top.metric === 'string') {
    const [observed, expected, low, high] = [top.observed, top.expected, top.low, top.high].map(numOf)
    const score = numOf(top.score)
    const windows = numOf(top.windows)
    const sustained = windows !== null ? { windows } : undefined
    const value =
      observed !== null && expected !== null && low !== null && high !== null
        ? `: ${fmtAnomalyValue({ metric: top.metric, observed, expected, low, high, sustained })}`
        : ''
    return [
      `anomaly on ${seriesWords(top.key)}${value}${score !== null ? `, score ${score.toFixed(2)}` : ''}`,
      anomalies.length > 1 ? `and ${plural(anomalies.length - 1, 'more anomaly', 'more anomalies')}` : '',
    ]
  }
  const anomaly = recOf(e?.anomaly)
  if (anomaly !== null) {
    const f = recOf(Array.isArray(anomaly.features) ? anomaly.features[0] : null)
    const [observed, typical] = [f?.observed, f?.typical].map(numOf)
    const score = numOf(anomaly.score)
    return [
      typeof f?.feature === 'string' && observed !== null && typical !== null
        ? fmtAgainstTypical(f.feature, observed, typical)
        : 'stands out among its peers',
      score !== null ? `score ${score.toFixed(2)}` : '',
    ]
  }
  return null
}

const LIMIT_VERBS: Readonly<Record<string, Verb>> = {
  apply: { past: 'lowered', ing: 'lowering', base: 'lower' },
  tighten: { past: 'tightened', ing: 'tightening', base: 'tighten' },
  relax: { past: 'relaxed', ing: 'relaxing', base: 'relax' },
  renew: { past: 'renewed', ing: 'renewing', base: 'renew' },
  release: { past: 'lifted', ing: 'lifting', base: 'lift' },
}
const TURN: Verb = { past: 'turned', ing: 'turning', base: 'turn' }

/**
 * An adaptive-limit decision (`limits.apply|tighten|relax|renew|release`): what the limits on a
 * service or client become, and why. Defensive mode alone reads as turned on or off.
 */
function limitSentence(a: ActionWords): string {
  const verb = LIMIT_VERBS[a.kind.slice('limits.'.length)]
  if (verb === undefined) return genericAction(a)
  const name = nameOf(a.target)
  const client = a.target.startsWith('client:')
  const after = recOf(a.after) ?? {}
  const before = recOf(a.before) ?? {}
  const release = a.kind === 'limits.release'
  const onlyDefensive = (e: Rec) => {
    const paths = Object.keys(e)
    return paths.length > 0 && paths.every((p) => p.endsWith('.defensive'))
  }
  // the reason's last clause says what was done (": defensive mode off"): the headline says it
  const why = limitEvidence(recOf(a.evidence), release) ?? [a.reason.replace(/: [^:]*$/, '')]
  if (onlyDefensive(release ? before : after) && (release || a.kind === 'limits.apply'))
    return sentence(a, TURN, `defensive mode ${release ? 'off' : 'on'} for ${name}`, why)
  if (release) return sentence(a, verb, `the limits on ${client ? `client ${name}` : name}`, why)
  const what = entriesWords(after)
  const factor = what.replace(/^[^ ]+ /, '')
  const rest = !client
    ? `limits on ${name}: ${what}`
    : a.kind === 'limits.apply'
      ? `client ${name} to ${factor} of its limit on every service`
      : `the limit of client ${name}: ${factor} on every service`
  const limited: Verb = { past: 'limited', ing: 'limiting', base: 'limit' }
  return sentence(a, client && a.kind === 'limits.apply' ? limited : verb, rest, why)
}

/** A kind this module does not know: what, where, who, and the record's own reason. */
function genericAction(a: ActionWords): string {
  const head = `${a.policy} ${shadowed(a) ? 'would have done' : 'did'} ${a.kind} on ${nameOf(a.target)}`
  const failed =
    a.result.status === 'failed' ? `, which failed${a.result.detail ? `: ${a.result.detail}` : ''}` : ''
  return `${upper(head)}${failed}${paren([shadowed(a) ? 'shadow mode' : null, a.reason])}`
}

/** The activity sentence of a control-plane action (the action log, src/control/actions.ts). */
export function actionSummary(a: ActionWords): string {
  if (a.kind.startsWith('scale.')) return scaleSentence(a)
  if (a.kind === 'alert.firing' || a.kind === 'alert.repeat' || a.kind === 'alert.resolved')
    return alertSentence(a)
  if (a.kind.startsWith('limits.')) return limitSentence(a)
  return genericAction(a)
}

/** `control:forecast-pressure` → `The forecast-pressure policy`; an operator's name as given. */
function who(actor: string): string {
  return actor.startsWith('control:') ? `The ${actor.slice('control:'.length)} policy` : actor
}

/** `10 req/s, burst 20` */
function tierWords(t: Rec | null): string | null {
  const rate = numOf(t?.ratePerSec)
  const burst = numOf(t?.burst)
  if (rate === null) return null
  return `${reqs(rate)}${burst !== null ? `, burst ${fmtNum(burst)}` : ''}`
}

/** What changed between two API key views: `tier STD → PRM, 5 → 10 req/s`. */
function keyChanges(before: Rec | null, after: Rec | null): string {
  const out: string[] = []
  if (before?.tier !== after?.tier)
    out.push(`tier ${String(before?.tier ?? 'none')} → ${String(after?.tier ?? 'none')}`)
  const rate = (r: Rec | null) =>
    numOf(r?.ratePerSec) !== null ? reqs(numOf(r?.ratePerSec)!) : "its tier's rate"
  if (before?.ratePerSec !== after?.ratePerSec) out.push(`rate ${rate(before)} → ${rate(after)}`)
  const burst = (r: Rec | null) => (numOf(r?.burst) !== null ? fmtNum(numOf(r?.burst)!) : "its tier's")
  if (before?.burst !== after?.burst) out.push(`burst ${burst(before)} → ${burst(after)}`)
  return out.join(', ')
}

/**
 * The control entries of a controls document (src/limits/state.ts Controls) by path, the way
 * `entries` keys them: `tiers.STD`, `clients.acme`, `services.shop.defensive`.
 */
function controlEntries(c: Rec | null): Map<string, number | true> {
  const out = new Map<string, number | true>()
  const put = (prefix: string, group: Rec | null) => {
    for (const kind of ['tiers', 'classes', 'clients'])
      for (const [n, v] of Object.entries(recOf(group?.[kind]) ?? {}))
        if (typeof v === 'number') out.set(`${prefix}${kind}.${n}`, v)
    if (group?.defensive === true) out.set(`${prefix}defensive`, true)
  }
  put('', c)
  for (const [svc, sc] of Object.entries(recOf(c?.services) ?? {})) put(`services.${svc}.`, recOf(sc))
  return out
}

/** When a control entry stops applying (ISO), if it does. */
const expiryOf = (c: Rec | null, path: string) => strOf(recOf(recOf(c?.entries)?.[path])?.expiresAt)

/**
 * What a controls change did, entry by entry: `payments STD ×0.1`, `shop defensive mode on`,
 * `client acme ×0.1 lifted`, `shop defensive mode off`; and whether it only renewed entries (the
 * same values with a later expiry), and until when the entries it set apply.
 */
function controlChanges(
  before: Rec | null,
  after: Rec | null,
): { changes: string[]; renewed: boolean; until: string | null } {
  const b = controlEntries(before)
  const a = controlEntries(after)
  const words = (path: string, v: number | true) => {
    const svc = /^services\.([^.]+)\./.exec(path)?.[1]
    return `${svc !== undefined ? `${svc} ` : ''}${path.startsWith('clients.') ? 'client ' : ''}${entryWords(path, v)}`
  }
  const set = [...a].filter(([p, v]) => b.get(p) !== v)
  const removed = [...b].filter(([p]) => !a.has(p))
  const renewed = [...a].filter(([p, v]) => b.get(p) === v && expiryOf(before, p) !== expiryOf(after, p))
  const changes = [
    ...set.map(([p, v]) => (v === true ? `${words(p, v)} on` : words(p, v))),
    ...removed.map(([p, v]) => (v === true ? `${words(p, v)} off` : `${words(p, v)} lifted`)),
  ]
  const only = changes.length === 0 && renewed.length > 0
  const shown = only ? renewed : set
  const until = shown.map(([p]) => expiryOf(after, p)).find((x) => x !== null) ?? null
  return { changes: only ? renewed.map(([p, v]) => words(p, v)) : changes, renewed: only, until }
}

/** `10:42:42 UTC` of an ISO time (the activity list shows the day). */
const clock = (iso: string) => (/T(\d\d:\d\d:\d\d)/.exec(iso)?.[1] ?? iso) + ' UTC'

/** `service="payments", env=~"prod|staging"` */
function matcherWords(matchers: unknown): string | null {
  if (!Array.isArray(matchers)) return null
  const out = matchers.map(recOf).flatMap((m) => {
    if (m === null || typeof m.name !== 'string') return []
    const op = (m.isEqual === false ? '!' : '=') + (m.isRegex === true ? '~' : '')
    return [`${m.name}${op === '=' ? '=' : op}"${String(m.value)}"`]
  })
  return out.length > 0 ? out.join(', ') : null
}

/** `: what failed`, as a scaling route audits it; nothing when it does not say. */
const failure = (after: Rec | null) => (strOf(after?.detail) !== null ? `: ${String(after?.detail)}` : '')

/** The activity sentence of an audited change (src/audit.ts): who did what, with the values. */
export function auditSummary(e: AuditWords): string {
  const actor = who(e.actor)
  const reason = e.reason !== '' ? e.reason : null
  const before = recOf(e.before)
  const after = recOf(e.after)
  switch (e.kind) {
    case 'limits.tier.update': {
      const to = tierWords(after)
      const was = tierWords(before)
      // null: there was no such tier (undefined: a record that does not say)
      if (e.before === null)
        return `${actor} created tier ${e.subject}${to !== null ? `: ${to}` : ''}${paren([reason])}`
      const then = was === null ? null : was === to ? 'unchanged' : `was ${was}`
      return `${actor} set tier ${e.subject} to ${to ?? 'new values'}${paren([then, reason])}`
    }
    case 'limits.key.create': {
      const own = numOf(after?.ratePerSec)
      return `${actor} created API key ${e.subject} on tier ${String(after?.tier ?? '?')}${paren([own !== null ? `own rate ${reqs(own)}` : null, reason])}`
    }
    case 'limits.key.update': {
      const changes = keyChanges(before, after)
      return `${actor} changed API key ${e.subject}${changes !== '' ? `: ${changes}` : ' (no change)'}${paren([reason])}`
    }
    case 'limits.key.revoke':
      return `${actor} revoked API key ${e.subject}${paren([reason])}`
    case 'limits.controls.set': {
      const c = controlChanges(before, after)
      const what = c.changes.length > 0 ? `: ${c.changes.join(', ')}` : ' (no change)'
      const until = c.until !== null ? ` until ${clock(c.until)}` : ''
      // a policy's reason is in its own action, which the activity list shows instead of this
      const why = e.actor.startsWith('control:') ? '' : paren([reason])
      return `${actor} ${c.renewed ? 'renewed' : 'changed'} the limit controls${what}${until}${why}`
    }
    case 'limits.controls.clear': {
      const c = controlChanges(before, after)
      return `${actor} cleared every limit control${paren([c.changes.length > 0 ? c.changes.join(', ') : 'none were set', reason])}`
    }
    case 'scale.manual': {
      const status = strOf(after?.status)
      const move = moveWords(e.subject, before?.replicas, after?.requested ?? after?.replicas)
      return status === 'failed'
        ? `${actor} asked to scale ${move}; it failed${failure(after)}${paren([reason])}`
        : `${actor} scaled ${move}${paren([reason])}`
    }
    case 'scale.restart':
      return after?.status === 'failed'
        ? `${actor} asked to restart ${e.subject}; it failed${failure(after)}${paren([reason])}`
        : `${actor} restarted ${e.subject}${paren([reason])}`
    case 'config.reload': {
      const changed = Array.isArray(after?.changed) ? (after.changed as unknown[]).map(String) : null
      const restart = Array.isArray(after?.restartRequired)
        ? (after.restartRequired as unknown[]).map(String)
        : []
      const routes = numOf(after?.routes)
      const what =
        changed === null ? null : changed.length === 0 ? 'nothing changed' : `changed ${listWords(changed)}`
      return `${actor} reloaded the config${paren([
        what,
        restart.length > 0
          ? `${listWords(restart)} wait${restart.length === 1 ? 's' : ''} for a restart`
          : null,
        routes !== null ? plural(routes, 'route') : null,
        reason,
      ])}`
    }
    case 'alerts.silence.create': {
      const matchers = matcherWords(after?.matchers)
      const from = numOf(after?.startsAtMs)
      const to = numOf(after?.endsAtMs)
      return `${actor} silenced alerts${matchers !== null ? ` matching ${matchers}` : ''}${from !== null && to !== null ? ` for ${fmtSpan(to - from)}` : ''}${paren([reason])}`
    }
    case 'alerts.silence.delete': {
      const matchers = matcherWords(before?.matchers)
      return `${actor} ended silence ${e.subject}${matchers !== null ? ` on ${matchers}` : ''}${paren([reason])}`
    }
    case 'alerts.ack':
      return `${actor} acknowledged alert ${e.subject}${paren([reason])}`
  }
  return `${actor} made a change: ${e.kind} on ${e.subject}${paren([reason])}`
}

/** `a, b and 3 more` */
function listWords(items: readonly string[], most = 3): string {
  return items.length <= most
    ? items.join(', ')
    : `${items.slice(0, most).join(', ')} and ${items.length - most} more`
}
