/** @module The `alerts:` section of vigil.yaml: rules, sinks, repeat interval (src/alerts, wired in src/control/alerting.ts). */
import { z } from 'zod'
import { unknownName, type ConfigProblem } from './messages.js'

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const DURATION = /^(\d+)(ms|s|m|h|d)$/

/** A duration: ms as a number, or `90s`, `5m`, `4h`. */
const duration = z.union(
  [
    z.number().int().min(0),
    z
      .string()
      .regex(DURATION, 'expected a duration like 30s, 5m or 4h')
      .transform((t) => {
        const m = DURATION.exec(t) as RegExpExecArray
        return Number(m[1]) * DURATION_UNITS_MS[m[2] as keyof typeof DURATION_UNITS_MS]
      }),
  ],
  { error: 'expected a duration like 30s, 5m or 4h (or ms as a number)' },
)

/**
 * How long a condition must hold: `2 windows` (consecutive telemetry windows), a duration
 * (`30s`, rounded up to whole windows), or a number of ms. Parsed to `{ windows }` or `{ ms }`.
 */
export const holdSchema = z.union(
  [
    z
      .number()
      .int()
      .min(0)
      .transform((ms) => ({ ms })),
    z
      .string()
      .regex(
        /^(\d+\s*windows?|\d+(ms|s|m|h|d))$/,
        'expected a number of windows like "2 windows", or a duration like 30s or 5m',
      )
      .transform((t) => {
        const w = /^(\d+)\s*windows?$/.exec(t)
        if (w !== null) return { windows: Number(w[1]) }
        const m = DURATION.exec(t) as RegExpExecArray
        return { ms: Number(m[1]) * DURATION_UNITS_MS[m[2] as keyof typeof DURATION_UNITS_MS] }
      }),
  ],
  { error: 'expected a number of windows like "2 windows", or a duration like 30s or 5m' },
)

const RULE_NAME = /^[a-z0-9][a-z0-9_-]*$/
const SINK_NAME = /^[a-z0-9][a-z0-9_-]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** Which series a rule judges: each key absent or `*` matches every value. */
const matchSchema = z
  .strictObject({
    service: z.string().min(1).optional(),
    route: z.string().min(1).optional(),
    env: z.string().min(1).optional(),
  })
  .prefault({})

const common = {
  /** unique; the alert name (`alertname` label) */
  name: z.string().regex(RULE_NAME, 'rule names are lower-case letters, digits, - and _'),
  /** shadow: record what would be sent in the action log, send nothing */
  mode: z.enum(['shadow', 'enforce']).default('enforce'),
  match: matchSchema,
  /** the series level judged: route series, `{service, env}` roll-ups, or the global series */
  level: z.enum(['route', 'service', 'global']).default('service'),
  /** the condition must hold this long before the alert fires (pending until then) */
  for: holdSchema.default({ windows: 1 }),
  /** and must be gone this long before it resolves */
  resolveFor: holdSchema.default({ windows: 1 }),
  severity: z.enum(['info', 'warning', 'critical']).default('warning'),
  /** extra labels on every alert of the rule (for silences, routing and receivers) */
  labels: z
    .record(z.string().regex(LABEL_NAME, 'label names are letters, digits and _'), z.string())
    .default({}),
  /** sinks this rule's alerts go to (names under alerts.sinks); default every sink */
  sinks: z.array(z.string().min(1)).optional(),
  /** windows with fewer requests are not judged (no data: the alert keeps its state) */
  minRequests: z.number().int().min(0).default(10),
}

export const ruleSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...common,
    kind: z.literal('latency'),
    quantile: z.enum(['p50', 'p95', 'p99']).default('p95'),
    /** static: a number of ms; adaptive: the detector's expected latency at the current load */
    threshold: z.union([z.number().positive(), z.literal('adaptive')], {
      error: 'expected a latency in ms (e.g. 800) or "adaptive"',
    }),
    /** adaptive: fire above factor × the top of the expected band */
    factor: z.number().positive().default(1),
    /** adaptive: never below this many ms (a fast API is not paged for 5 ms) */
    floorMs: z.number().min(0).default(0),
  }),
  z.strictObject({
    ...common,
    kind: z.literal('error-ratio'),
    /** above this quantile of the series' own error ratio history */
    quantile: z.number().gt(0).lt(1).default(0.99),
    /** and above this ratio in any case, so a quiet series is not paged for one error */
    floor: z.number().min(0).max(1).default(0.02),
    /** and the error count must be this improbable under the series' baseline (binomial/Poisson tail) */
    tailP: z.number().gt(0).lt(1).default(0.001),
    /** windows of history behind the quantile and the baseline */
    historyWindows: z.number().int().min(10).max(100_000).default(360),
    /** windows of history needed before the rule judges a series */
    minHistory: z.number().int().min(1).default(30),
  }),
  z.strictObject({
    ...common,
    kind: z.literal('failure'),
    /** share of requests that failed (5xx, including the gateway's 503 when every target is down; connect errors; timeouts) */
    ratio: z.number().gt(0).max(1).default(0.5),
  }),
  z.strictObject({
    ...common,
    kind: z.literal('forecast'),
    /** which failure forecast: error ratio or p95 crossing forecast.thresholds within the horizon */
    metric: z.enum(['errorRatio', 'p95', 'any']).default('any'),
    /** fire when the probability of crossing is at least this */
    probability: z.number().gt(0).max(1).default(0.8),
  }),
  z.strictObject({
    ...common,
    kind: z.literal('anomaly'),
    /** anomaly metrics that count (default every one): rate, errors, p50, p95, p99, limitedRatio, joint */
    metrics: z
      .array(z.enum(['rate', 'errors', 'p50', 'p95', 'p99', 'limitedRatio', 'joint']))
      .min(1)
      .optional(),
    /** an open anomaly counts when its score is at least this */
    minScore: z.number().min(0).max(1).default(0.5),
    /**
     * windows in which an open anomaly's metric is still outside the band recorded at its open:
     * two by default, so a one-window spike (a heavy latency tail) opens an anomaly but pages no one
     */
    for: holdSchema.default({ windows: 2 }),
    /**
     * three by default: during an incident a latency quantile of a short window dips back into
     * its band now and then, and one such window would resolve the alert and page again after it
     */
    resolveFor: holdSchema.default({ windows: 3 }),
  }),
  z.strictObject({
    ...common,
    kind: z.literal('rate-limit'),
    /** 429 responses / requests at or above this */
    limitedRatio: z.number().gt(0).max(1).default(0.1),
    /** or the request rate at or above this share of the service's capacity budget (limits.services) */
    budgetShare: z.number().gt(0).default(1),
  }),
  z.strictObject({
    ...common,
    /**
     * judges no windows (for, resolveFor, level, minRequests and match.route do not apply): fires
     * at once when a service's actuator fails (the autoscaler's retries are spent, or a new
     * replica never became healthy and was rolled back) and resolves when it works again
     */
    kind: z.literal('actuator'),
    severity: z.enum(['info', 'warning', 'critical']).default('critical'),
  }),
])

const url = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })

const sinkCommon = {
  name: z.string().regex(SINK_NAME, 'sink names are lower-case letters, digits, - and _'),
  /** notifications waiting per sink; beyond it new ones are dropped, counted and logged once */
  maxQueue: z.number().int().min(1).default(1_000),
  /**
   * tries per notification (5xx, 429, timeouts and connection errors are retried; other 4xx are
   * not); 10 with the default backoff waits 1–2 min in all, so a receiver restarting or briefly
   * down misses nothing (5 gave up after 4–8 s)
   */
  maxAttempts: z.number().int().min(1).max(20).default(10),
  /** backoff before the 2nd try, doubling (with jitter) up to maxBackoffMs */
  backoffMs: z.number().int().min(1).default(500),
  maxBackoffMs: z.number().int().min(1).default(30_000),
  timeoutMs: z.number().int().min(100).default(5_000),
}

export const sinkSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...sinkCommon,
    kind: z.literal('webhook'),
    url,
    /** extra request headers (e.g. Authorization); never logged */
    headers: z.record(z.string(), z.string()).default({}),
  }),
  z.strictObject({ ...sinkCommon, kind: z.literal('slack'), url }),
  z.strictObject({
    ...sinkCommon,
    kind: z.literal('alertmanager'),
    /** the Alertmanager base URL; alerts are POSTed to <url>/api/v2/alerts */
    url,
    /** firing alerts are re-sent this often so Alertmanager keeps them (it resolves alerts not re-sent) */
    resendEveryMs: z.number().int().min(1_000).default(60_000),
  }),
  z.strictObject({ ...sinkCommon, kind: z.literal('file'), path: z.string().min(1) }),
  z.strictObject({ ...sinkCommon, kind: z.literal('stdout') }),
])

export const alertsSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** a firing alert is sent again after this long while it is not acknowledged (a re-fire is a new run: paged at once) */
    repeatInterval: duration.default(4 * 3_600_000),
    /**
     * a firing alert whose series has had no window for this long (`5 windows`, or a duration)
     * resolves, and a pending one is dropped: gateways ship a window only when requests arrived
     */
    staleAfter: holdSchema.default({ ms: 600_000 }),
    /** resolved alerts are kept (API, store) this long */
    keepResolved: duration.default(86_400_000),
    /** how long a page waits at most for its enrichment (user impact, root cause); later it goes without */
    enrichTimeout: duration.default(1_000),
    /** alerts API links (`links` in every alert) start with this; default the admin API's address */
    externalUrl: url.optional(),
    rules: z.array(ruleSchema).default([]),
    sinks: z.array(sinkSchema).default([]),
  })
  .prefault({})

export type AlertsConfig = z.infer<typeof alertsSchema>
export type AlertRuleConfig = z.infer<typeof ruleSchema>
export type AlertSinkConfig = z.infer<typeof sinkSchema>
export type Hold = z.infer<typeof holdSchema>

/** A hold in ms: whole windows of `windowMs`, or the duration as given. */
export function holdMs(h: Hold, windowMs: number): number {
  return 'windows' in h && h.windows !== undefined ? h.windows * windowMs : (h.ms ?? 0)
}

/**
 * A series with steady traffic gets a window every `windowMs`, a little after it closes: an
 * alert must not go stale between two of them, nor when one quiet window has no requests.
 */
export const MIN_STALE_WINDOWS = 2

/**
 * Checks that span fields: unique rule and sink names, rules naming known sinks, services and
 * routes. `routes` maps each route's name (its path when it has none) to its service.
 */
export function alertsCrossCheck(
  alerts: AlertsConfig,
  services: readonly string[],
  routes: ReadonlyMap<string, string>,
  windowMs: number,
): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const staleMs = holdMs(alerts.staleAfter, windowMs)
  if (staleMs < MIN_STALE_WINDOWS * windowMs)
    problems.push({
      path: 'alerts.staleAfter',
      message: `${staleMs} ms is shorter than ${MIN_STALE_WINDOWS} windows (${MIN_STALE_WINDOWS * windowMs} ms with telemetry.windowMs ${windowMs}): firing alerts would resolve between the windows of a series that still gets requests; use e.g. "5 windows" or 10m`,
    })
  const sinks = new Map<string, number>()
  alerts.sinks.forEach((s, i) => {
    const other = sinks.get(s.name)
    if (other !== undefined)
      problems.push({
        path: `alerts.sinks[${i}].name`,
        message: `sink name "${s.name}" is already used by alerts.sinks[${other}]; give one of them a distinct name`,
      })
    else sinks.set(s.name, i)
  })
  const rules = new Map<string, number>()
  alerts.rules.forEach((r, i) => {
    const other = rules.get(r.name)
    if (other !== undefined)
      problems.push({
        path: `alerts.rules[${i}].name`,
        message: `rule name "${r.name}" is already used by alerts.rules[${other}]; give one of them a distinct name`,
      })
    else rules.set(r.name, i)
    r.sinks?.forEach((name, j) => {
      if (!sinks.has(name))
        problems.push({
          path: `alerts.rules[${i}].sinks[${j}]`,
          message: unknownName(
            'sink',
            name,
            [...sinks.keys()],
            sinks.size === 0 ? 'add one under alerts.sinks' : undefined,
          ),
        })
    })
    const svc = r.match.service
    const knownSvc = svc === undefined || svc === '*' || services.includes(svc)
    if (!knownSvc)
      problems.push({
        path: `alerts.rules[${i}].match.service`,
        message: unknownName('service', svc, services),
      })
    // series carry the route's name, or its path when it has none: anything else matches nothing
    const route = r.match.route
    const routeSvc = route === undefined || route === '*' ? undefined : routes.get(route)
    if (route !== undefined && route !== '*' && routeSvc === undefined)
      problems.push({
        path: `alerts.rules[${i}].match.route`,
        message: unknownName(
          'route',
          route,
          [...routes.keys()],
          'a route without a name is known by its path',
        ),
      })
    else if (routeSvc !== undefined && knownSvc && svc !== undefined && svc !== '*' && routeSvc !== svc)
      problems.push({
        path: `alerts.rules[${i}].match.route`,
        message: `route "${route}" goes to service "${routeSvc}", not "${svc}": the rule would match no series; fix match.service or match.route`,
      })
    if (r.match.route !== undefined && r.match.route !== '*' && r.level !== 'route')
      problems.push({
        path: `alerts.rules[${i}].level`,
        message: `match.route judges route series: set level: route (got ${r.level})`,
      })
    if (r.level === 'global' && (r.match.service ?? '*') !== '*')
      problems.push({
        path: `alerts.rules[${i}].level`,
        message: 'the global series has no service: remove match.service or use level: service',
      })
  })
  return problems
}
