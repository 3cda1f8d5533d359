/**
 * Alerts: the list (by state and service), one alert with its evidence (observed against the
 * expected band and the threshold), root cause and impact when enrichers added them, and the two
 * things people do about an alert here: acknowledge it, or silence what matches it for a while.
 */
import { Fragment } from 'preact'
import { useState } from 'preact/hooks'
import { Result, useAction } from '../components/forms.js'
import { prose, Table } from '../components/table.js'
import { Badge, Empty, Panel, Problem, type Tone } from '../components/ui.js'
import { api } from '../lib/api.js'
import {
  extraDigits,
  fmtEvidence,
  fmtAgo,
  fmtSince,
  fmtInterval,
  fmtMs,
  fmtNum,
  fmtPct,
  fmtSloMiss,
  fmtTime,
  keyLabel,
  localTimes,
  METRIC_NAMES,
} from '../lib/format.js'
import { useApi, useLive, useNow } from '../lib/hooks.js'
import { href, navigate } from '../lib/router.js'
import type { Alert, AlertImpact, AlertRootCause, Evidence, ServiceView, Silence } from '../lib/types.js'
import { candidatesHeading } from './root-cause.js'

const STATES = ['active', 'firing', 'pending', 'resolved', 'all'] as const
/** Why a member of an incident paged although the head pages for the incident. */
const ESCALATED = "it paged on its own, being more severe than its incident's head"

const DURATION = /^(\d+)(s|m|h|d)$/
/** name="value", name!=value, name=~"regex" (the server parses and checks them fully) */
const MATCHER = /^\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=~|!~|!=|=)\s*(?:"(?:[^"\\]|\\.)*"|[^,]*?)\s*$/

export function stateTone(a: Pick<Alert, 'state'>): Tone {
  return a.state === 'firing' ? 'bad' : a.state === 'pending' ? 'warn' : 'ok'
}

export function severityTone(severity: string): Tone {
  return severity === 'critical' ? 'bad' : severity === 'warning' ? 'warn' : 'info'
}

/** Checks a matcher list before sending; returns the problem or null. */
export function matchersProblem(text: string): string | null {
  const parts = text.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/).filter((p) => p.trim() !== '')
  if (parts.length === 0) return 'matchers: give at least one, e.g. service="orders"'
  const bad = parts.find((p) => !MATCHER.test(p))
  return bad === undefined
    ? null
    : `matchers: "${bad.trim()}" is not like name="value", name!=value or name=~"regex"`
}

function quote(v: string): string {
  return `"${v.replace(/["\\]/g, '\\$&')}"`
}

export function AlertsPage(props: { args: string[] }) {
  const store = useLive()
  const now = useNow()
  const [state, setState] = useState<(typeof STATES)[number]>('active')
  const [service, setService] = useState('')
  const [silenceFor, setSilenceFor] = useState<string | null>(null)
  const q = `state=${state}${service !== '' ? `&service=${encodeURIComponent(service)}` : ''}`
  const list = useApi<{ alerts: Alert[] }>(`/api/alerts?${q}`, 3000)
  const services = (store.value<ServiceView[]>('services') ?? []).map((s) => s.name)
  const selected = props.args[0] ?? null
  const alerts = list.data?.alerts ?? []
  return (
    <>
      <Panel
        title="Alerts"
        right={
          <form class="row" aria-label="Filter alerts" onSubmit={(e) => e.preventDefault()}>
            <label class="inline">
              State
              <select
                id="alerts-state"
                value={state}
                onChange={(e) => setState((e.target as HTMLSelectElement).value as typeof state)}
              >
                {STATES.map((s) => (
                  <option key={s} value={s}>
                    {s === 'active' ? 'active (pending and firing)' : s}
                  </option>
                ))}
              </select>
            </label>
            <label class="inline">
              Service
              <select
                id="alerts-service"
                value={service}
                onChange={(e) => setService((e.target as HTMLSelectElement).value)}
              >
                <option value="">all</option>
                {services.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            </label>
          </form>
        }
      >
        <Problem error={list.error} title="Alerts unavailable" />
        <Table
          label="Alerts"
          columns={['State', 'Severity', prose('Alert'), 'Series', 'Since', 'Handled']}
          rows={alerts}
          empty={
            list.data === null
              ? 'Loading…'
              : `No ${state === 'all' ? '' : `${state} `}alerts${service !== '' ? ` on ${service}` : ''}.`
          }
          row={(a) => (
            <tr key={a.fingerprint} aria-current={a.fingerprint === selected ? 'true' : undefined}>
              <td>
                <Badge tone={stateTone(a)}>{a.state}</Badge>
              </td>
              <td>
                <Badge tone={severityTone(a.severity)}>{a.severity}</Badge>
                {a.mode === 'shadow' && <span class="small muted"> shadow</span>}
              </td>
              <td>
                <a href={href('alerts', a.fingerprint)}>{a.rule}</a>
                <div class="small muted">{localTimes(a.latest.summary)}</div>
              </td>
              <td>{keyLabel(a.key)}</td>
              <td class="when" title={new Date(a.activeAtMs).toISOString()}>
                {fmtSince(a.activeAtMs, now)}
              </td>
              <td class="small">
                {a.ack !== null ? (
                  <Badge tone="ok">acknowledged by {a.ack.by}</Badge>
                ) : a.suppressed !== null ? (
                  <Badge tone="muted">{a.suppressed}</Badge>
                ) : a.escalated === true ? (
                  <Badge tone="bad" title={ESCALATED}>
                    escalated
                  </Badge>
                ) : (
                  '–'
                )}
              </td>
            </tr>
          )}
        />
      </Panel>
      {selected !== null && (
        <AlertDetail
          key={selected}
          fingerprint={selected}
          now={now}
          onChanged={list.reload}
          onSilence={(m) => setSilenceFor(m)}
        />
      )}
      <SilencesPanel prefill={silenceFor} onChanged={list.reload} now={now} />
    </>
  )
}

function AlertDetail(props: {
  fingerprint: string
  now: number
  onChanged: () => void
  onSilence: (matchers: string) => void
}) {
  const got = useApi<Alert>(`/api/alerts/${encodeURIComponent(props.fingerprint)}`, 3000)
  const a = got.data
  if (a === null)
    return (
      <Panel title="Alert">
        {got.error !== null ? <Problem error={got.error} title="Alert not found" /> : <Empty>Loading…</Empty>}
      </Panel>
    )
  const ev = a.evidence
  const detector = typeof ev.details.detector === 'string' ? ev.details.detector : null
  const silenceMatchers = `alertname=${quote(a.rule)}, service=${quote(a.series.service)}, env=${quote(a.series.env)}`
  return (
    <Panel
      title={`${a.rule} on ${keyLabel(a.key)}`}
      id="alert-detail-title"
      right={
        <span class="row">
          <Badge tone={stateTone(a)}>{a.state}</Badge>
          <Badge tone={severityTone(a.severity)}>{a.severity}</Badge>
          <button type="button" onClick={() => navigate(href('alerts'))}>
            Close
          </button>
        </span>
      }
    >
      <div class="grid two" id="alert-detail">
        <div>
          <h3>Evidence {a.state === 'firing' || a.state === 'resolved' ? 'when it fired' : 'now'}</h3>
          <EvidenceView ev={ev} />
          {a.latest.windowStartMs !== ev.windowStartMs && (
            <>
              <h3>Newest window</h3>
              <EvidenceView ev={a.latest} />
            </>
          )}
        </div>
        <dl class="kv">
          <dt>Rule</dt>
          <dd>
            {a.rule}{' '}
            <span class="muted">
              ({a.kind}, {a.mode})
            </span>
          </dd>
          {detector !== null && (
            <>
              <dt>Detector</dt>
              <dd>{detector}</dd>
            </>
          )}
          <dt>Series</dt>
          <dd>
            <a href={href('series', a.key)}>{keyLabel(a.key)}</a> <span class="mono small">{a.key}</span>
          </dd>
          <dt>Pending since</dt>
          <dd>
            {fmtTime(a.activeAtMs)} ({fmtSince(a.activeAtMs, props.now)})
          </dd>
          <dt>Fired</dt>
          <dd>
            {a.firingAtMs !== null
              ? `${fmtTime(a.firingAtMs)} (${fmtSince(a.firingAtMs, props.now)})`
              : 'not yet'}
          </dd>
          {a.resolvedAtMs !== null && (
            <>
              <dt>Resolved</dt>
              <dd>
                {fmtTime(a.resolvedAtMs)} by {a.resolvedBy ?? '–'}
              </dd>
            </>
          )}
          <dt>Windows</dt>
          <dd>
            {a.trueWindows} holding, {a.falseWindows} clear
          </dd>
          <dt>Notified</dt>
          <dd>
            {a.notified.firing
              ? `yes${a.notified.repeats > 0 ? `, ${a.notified.repeats} repeats` : ''}`
              : 'no'}
            {a.suppressed !== null &&
              ` (held back: ${a.suppressed}${a.silencedBy !== null ? ` by silence ${a.silencedBy}` : ''})`}
          </dd>
          {a.incident !== null && (
            <>
              <dt>Incident</dt>
              <dd>
                {a.incident === a.fingerprint ? (
                  'heads its incident'
                ) : (
                  <>
                    <a href={href('alerts', a.incident)}>part of the incident headed by {a.incident}</a>
                    {a.escalated === true && `; escalated: ${ESCALATED}`}
                  </>
                )}
              </dd>
            </>
          )}
          <dt>Labels</dt>
          <dd class="mono small">
            {Object.entries(a.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ')}
          </dd>
          <dt>API</dt>
          <dd class="small">
            {Object.entries(ev.links).map(([k, url]) => (
              <span key={k}>
                <a href={url} target="_blank" rel="noreferrer">
                  {k}
                </a>{' '}
              </span>
            ))}
          </dd>
        </dl>
      </div>
      <Context context={a.context} />
      <AckForm alert={a} onDone={() => (got.reload(), props.onChanged())} />
      <p class="small">
        <button type="button" onClick={() => props.onSilence(silenceMatchers)}>
          Silence alerts like this…
        </button>
      </p>
    </Panel>
  )
}

/** Observed against expected, band and threshold: a number line, and the same in words. */
/** The band as drawn: both edges known, below 0 (and ratios above 1) cut off, as no metric goes there. */
export function shownBand(ev: Pick<Evidence, 'band' | 'metric'>): [number, number] | null {
  const b = ev.band
  if (b === null || !Number.isFinite(b[0]) || !Number.isFinite(b[1])) return null
  const top = /Ratio$|^probability$/.test(ev.metric) ? Math.min(1, b[1]) : b[1]
  return [Math.max(0, b[0]), top]
}

export function EvidenceView(props: { ev: Evidence }) {
  const ev = { ...props.ev, band: shownBand(props.ev) }
  const g = (x: number, extra: number) =>
    ev.metric === 'anomaly' ? fmtNum(x, 3 + extra) : fmtEvidence(ev.metric, x, extra)
  // the observed value told apart from what it was judged against: the threshold, else the band's edge
  const against =
    ev.threshold ?? (ev.band === null ? null : ev.observed < ev.band[0] ? ev.band[0] : ev.band[1])
  const extra = against === null ? 0 : extraDigits(ev.observed, against, g)
  const f = (x: number) => g(x, extra)
  const words = [
    `${METRIC_NAMES[ev.metric] ?? ev.metric}: observed ${f(ev.observed)}`,
    ev.expected !== null ? `expected ${f(ev.expected)}` : null,
    ev.band !== null ? `normal band ${f(ev.band[0])} – ${f(ev.band[1])}` : null,
    ev.threshold !== null ? `threshold ${f(ev.threshold)}` : null,
  ]
    .filter((x) => x !== null)
    .join(', ')
  const details = Object.entries(ev.details).filter(
    ([, v]) => typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean',
  )
  return (
    <div class="evidence">
      <p>{localTimes(ev.summary)}</p>
      <BandLine ev={ev} label={words} />
      <p class="small muted">
        {words} · window {fmtTime(ev.windowStartMs)} ({ev.windowMs / 1000}s)
      </p>
      {details.length > 0 && (
        <details>
          <summary class="small">Rule details</summary>
          <dl class="kv small">
            {details.map(([k, v]) => (
              <Fragment key={k}>
                <dt>{k}</dt>
                <dd class="mono">{typeof v === 'number' ? fmtNum(v, 4) : String(v)}</dd>
              </Fragment>
            ))}
          </dl>
        </details>
      )}
    </div>
  )
}

function BandLine(props: { ev: Evidence; label: string }) {
  // the band arrives checked by EvidenceView (shownBand)
  const { ev } = props
  const W = 360
  const H = 46
  const vals = [ev.observed, ev.expected, ev.threshold, ...(ev.band ?? [])].filter(
    (v): v is number => v !== null && Number.isFinite(v),
  )
  const lo = Math.min(0, ...vals)
  const hi = Math.max(...vals) * 1.1 || 1
  const x = (v: number) => 8 + ((v - lo) / (hi - lo)) * (W - 16)
  const y = 22
  return (
    <svg
      class="bandline"
      viewBox={`0 0 ${W} ${H}`}
      width="100%"
      height={H}
      role="img"
      aria-label={props.label}
    >
      <line x1={8} x2={W - 8} y1={y} y2={y} stroke="var(--border)" stroke-width="2" />
      {ev.band !== null && (
        <rect
          x={x(ev.band[0])}
          y={y - 8}
          width={Math.max(2, x(ev.band[1]) - x(ev.band[0]))}
          height={16}
          fill="var(--band)"
          stroke="var(--info)"
          stroke-dasharray="3 2"
        />
      )}
      {ev.expected !== null && (
        <line
          x1={x(ev.expected)}
          x2={x(ev.expected)}
          y1={y - 9}
          y2={y + 9}
          stroke="var(--info)"
          stroke-width="2"
        />
      )}
      {ev.threshold !== null && (
        <>
          <line
            x1={x(ev.threshold)}
            x2={x(ev.threshold)}
            y1={4}
            y2={H - 4}
            stroke="var(--warn)"
            stroke-width="2"
            stroke-dasharray="4 3"
          />
          <text x={x(ev.threshold) + 3} y={10} font-size="9" fill="var(--muted)">
            threshold
          </text>
        </>
      )}
      <path
        d={`M${x(ev.observed)},${y - 7} l7,7 l-7,7 l-7,-7 z`}
        fill="var(--bad)"
        stroke="var(--panel)"
        stroke-width="1"
      />
      <text x={Math.min(W - 50, x(ev.observed) + 8)} y={H - 2} font-size="9" fill="var(--text)">
        observed
      </text>
    </svg>
  )
}

const CONTEXT_TITLES: Record<string, string> = {
  rootCause: 'Root cause',
  impact: 'Impact',
  correlated: 'Correlated alerts',
}

const whole = (v: number) => fmtNum(Math.round(v))

/** Root cause, impact and whatever else enrichers put on the alert: their summary, then the data. */
function Context(props: { context: Record<string, unknown> }) {
  const entries = Object.entries(props.context)
  if (entries.length === 0) return null
  return (
    <div class="context">
      {entries.map(([k, v]) => {
        const o = v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : null
        const summary = typeof o?.summary === 'string' ? o.summary : typeof v === 'string' ? v : null
        const candidates = Array.isArray(o?.candidates) ? (o.candidates as AlertRootCause['candidates']) : []
        const heading = candidatesHeading((o ?? {}) as Partial<AlertRootCause>)
        const impact =
          k === 'impact' && o !== null && Array.isArray(o.routes) ? (o as unknown as AlertImpact) : null
        return (
          <section key={k} aria-label={CONTEXT_TITLES[k] ?? k}>
            <h3>{CONTEXT_TITLES[k] ?? k}</h3>
            {summary !== null && summary !== '' && <p>{localTimes(summary)}</p>}
            {candidates.length > 0 && heading.note !== null && <p class="small muted">{heading.note}</p>}
            {candidates.length > 0 && (
              <ol class="small" aria-label={heading.label}>
                {candidates.slice(0, 5).map((c, i) => (
                  <li key={i}>
                    <strong>{c.service}</strong> · {c.env} ({Math.round(c.score * 100)}% of the evidence
                    {c.route !== undefined && ` on ${c.route}`})
                  </li>
                ))}
              </ol>
            )}
            {impact !== null && (
              <>
                <p class="small">
                  Over the next {Math.round(impact.horizonMs / 60_000)} min if it lasts: failed requests{' '}
                  <strong>{fmtInterval(impact.failedRequests, whole)}</strong>, users affected (a request
                  missing the SLO) <strong>{fmtInterval(impact.usersAffected, whole)}</strong>
                  {fmtSloMiss(impact) !== null && (
                    <>
                      , requests missing the SLO <strong>{fmtSloMiss(impact)}</strong>
                    </>
                  )}{' '}
                  (90% intervals)
                </p>
                {impact.routes.length > 0 && (
                  <ul class="small" aria-label="Impact per route">
                    {impact.routes.map((r) => (
                      <li key={r.route}>
                        {r.route}: {fmtPct(r.successProbability)} of journeys succeed
                        {r.p95Ms === null ? '' : ` (p95 ${fmtMs(r.p95Ms)})`}, failed{' '}
                        {fmtInterval(r.failedRequests, whole)}
                        {r.sloMissRatio !== undefined && `, ${fmtPct(r.sloMissRatio.value)} miss the SLO`}
                      </li>
                    ))}
                  </ul>
                )}
              </>
            )}
            {o !== null && (
              <details>
                <summary class="small">All fields</summary>
                <pre class="mono small">{JSON.stringify(o, null, 2)}</pre>
              </details>
            )}
          </section>
        )
      })}
    </div>
  )
}

function AckForm(props: { alert: Alert; onDone: () => void }) {
  const [comment, setComment] = useState('')
  const a = useAction()
  const { alert } = props
  if (alert.ack !== null)
    return (
      <p role="status">
        <Badge tone="ok">acknowledged</Badge> by {alert.ack.by} at {fmtTime(alert.ack.atMs)}
        {alert.ack.comment !== '' && `: ${alert.ack.comment}`}
      </p>
    )
  const submit = (e: Event) => {
    e.preventDefault()
    if (comment.length > 2000) return a.fail('comment: at most 2,000 characters')
    void a.run(async () => {
      await api(`/api/alerts/${encodeURIComponent(alert.fingerprint)}/ack`, {
        method: 'POST',
        body: { comment: comment.trim() },
      })
      setComment('')
      props.onDone()
      return 'Acknowledged: it is not sent again until it resolves.'
    })
  }
  return (
    <form class="row" onSubmit={submit} noValidate aria-label="Acknowledge">
      <label>
        Comment (optional)
        <input
          id="ack-comment"
          size={40}
          value={comment}
          onInput={(e) => setComment((e.target as HTMLInputElement).value)}
        />
      </label>
      <button type="submit" class="primary" disabled={a.busy}>
        Acknowledge
      </button>
      <Result a={a} title="Not acknowledged" />
    </form>
  )
}

function SilencesPanel(props: { prefill: string | null; onChanged: () => void; now: number }) {
  const got = useApi<{ silences: Silence[] }>('/api/alerts/silences', 5000)
  const silences = got.data?.silences ?? []
  const del = useAction()
  const remove = (id: string) =>
    del.run(async () => {
      await api(`/api/alerts/silences/${encodeURIComponent(id)}`, { method: 'DELETE' })
      got.reload()
      props.onChanged()
      return `Silence ${id} ended.`
    })
  return (
    <Panel title="Silences">
      <Problem error={got.error} title="Silences unavailable" />
      <Table
        label="Silences"
        columns={['Matchers', 'Until', 'By', 'Comment', { label: 'End', skip: true }]}
        rows={silences}
        empty="No active or upcoming silences."
        row={(s) => (
          <tr key={s.id}>
            <td class="mono small">
              {s.matchers
                .map(
                  (m) =>
                    `${m.name}${m.isRegex ? (m.isEqual ? '=~' : '!~') : m.isEqual ? '=' : '!='}${quote(m.value)}`,
                )
                .join(', ')}
            </td>
            <td>
              {s.startsAtMs > props.now ? `from ${fmtTime(s.startsAtMs)} ` : ''}
              {fmtTime(s.endsAtMs)} ({fmtAgo(s.endsAtMs, props.now)})
            </td>
            <td>{s.createdBy}</td>
            <td>{s.comment}</td>
            <td>
              <button
                type="button"
                class="danger"
                disabled={del.busy}
                aria-label={`End silence ${s.id}`}
                onClick={() => void remove(s.id)}
              >
                End
              </button>
            </td>
          </tr>
        )}
      />
      <Result a={del} title="Not ended" />
      <SilenceForm
        key={props.prefill ?? ''}
        prefill={props.prefill}
        onDone={() => (got.reload(), props.onChanged())}
      />
    </Panel>
  )
}

function SilenceForm(props: { prefill: string | null; onDone: () => void }) {
  const [matchers, setMatchers] = useState(props.prefill ?? '')
  const [duration, setDuration] = useState('1h')
  const [comment, setComment] = useState('')
  const [invalid, setInvalid] = useState<Record<string, string>>({})
  const a = useAction()
  const submit = (e: Event) => {
    e.preventDefault()
    const bad: Record<string, string> = {}
    const m = matchersProblem(matchers)
    if (m !== null) bad.matchers = m
    if (!DURATION.test(duration.trim())) bad.duration = 'duration: a number and s, m, h or d, e.g. 30m or 2h'
    if (comment.trim() === '') bad.comment = 'comment: say why (it is shown with the silence)'
    setInvalid(bad)
    if (Object.keys(bad).length > 0) return a.fail(Object.values(bad).join('; '))
    void a.run(async () => {
      const s = await api<Silence>('/api/alerts/silences', {
        method: 'POST',
        body: { matchers: matchers.trim(), duration: duration.trim(), comment: comment.trim() },
      })
      setComment('')
      props.onDone()
      return `Silence ${s.id} until ${fmtTime(s.endsAtMs)}.`
    })
  }
  return (
    <form class="stack silence-form" onSubmit={submit} noValidate aria-label="New silence">
      <h3>New silence</h3>
      <label>
        Matchers (every one must match an alert's labels)
        <input
          id="silence-matchers"
          size={60}
          placeholder='service="shop", severity!="info"'
          value={matchers}
          aria-invalid={invalid.matchers !== undefined}
          onInput={(e) => setMatchers((e.target as HTMLInputElement).value)}
        />
      </label>
      <div class="row">
        <label>
          For
          <input
            id="silence-duration"
            size={6}
            value={duration}
            aria-invalid={invalid.duration !== undefined}
            onInput={(e) => setDuration((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Why
          <input
            id="silence-comment"
            size={40}
            value={comment}
            aria-invalid={invalid.comment !== undefined}
            onInput={(e) => setComment((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" class="primary" disabled={a.busy}>
          Create silence
        </button>
      </div>
      <Result a={a} title="Silence not created" />
    </form>
  )
}
