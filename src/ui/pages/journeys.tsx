/**
 * Request journeys: the service map across environments with live edge rates and error ratios,
 * the entry routes with their critical paths, a trace's waterfall by trace id or request id
 * (`#/journeys/trace/<id>`), and the what-if panel that runs the Monte Carlo engine.
 */
import { Fragment } from 'preact'
import { useState } from 'preact/hooks'
import { positive, Result, useAction } from '../components/forms.js'
import { ScrollX } from '../components/scroll-x.js'
import { ServiceMap, BAD_ERROR_RATIO, WARN_ERROR_RATIO } from '../components/service-map.js'
import { num, prose, Table } from '../components/table.js'
import { Badge, Empty, Panel, Problem } from '../components/ui.js'
import { api } from '../lib/api.js'
import { fmtSince, fmtCount, fmtMs, fmtNum, fmtPct, fmtTime, sitePath } from '../lib/format.js'
import { useApi, useNow } from '../lib/hooks.js'
import { href, navigate } from '../lib/router.js'
import type {
  GraphAnswer,
  JourneyStats,
  TraceListItem,
  JourneySummary,
  Waterfall,
  WhatIfAnswer,
} from '../lib/types.js'
import { parentsNeverSentNotes } from './parents-never-sent.js'
import { standbyNotice } from './standby.js'
import { iv, type Journey, whatIfRows } from './whatif-rows.js'

const ENV_COLORS = ['--series-1', '--series-2', '--series-4', '--forecast', '--series-3']
const TRACE_ID = /^[0-9a-fA-F]{32}$/

type TraceItem = TraceListItem

function envColors(envs: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    [...new Set(envs)].sort().map((e, i) => [e, `var(${ENV_COLORS[i % ENV_COLORS.length]})`]),
  )
}

export function JourneysPage(props: { args: string[] }) {
  const traceRef = props.args[0] === 'trace' ? (props.args[1] ?? null) : null
  const graph = useApi<GraphAnswer & { pipeline?: JourneyStats | null }>('/api/graph?window=1m', 3000)
  const journeys = useApi<{ journeys: JourneySummary[] }>('/api/journeys?window=5m', 10_000)
  const g = graph.data
  const colors = envColors(g?.nodes.map((n) => n.env) ?? [])
  const routes = journeys.data?.journeys ?? []
  const unsent = parentsNeverSentNotes(g?.pipeline?.parentsNeverSent, Date.now())
  // every panel reads the leader's journeys: one line naming the leader, not a refusal per panel
  // with "Loading…" under it for data that never comes
  const standby = standbyNotice('Journeys', graph.error, journeys.error)
  if (standby !== null)
    return (
      <Panel title="Journeys">
        <p role="status" id="journeys-standby">
          {standby}
        </p>
      </Panel>
    )
  return (
    <>
      <Panel
        title="Service map"
        right={
          <span class="legend small" aria-label="Environments">
            {Object.entries(colors).map(([env, c]) => (
              <span key={env}>
                <i style={{ background: c }} aria-hidden="true" /> {env}
              </span>
            ))}
            <span>
              last complete minute · edge width is rate · dotted: over {fmtPct(WARN_ERROR_RATIO)} errors ·
              dashed with ✕: over {fmtPct(BAD_ERROR_RATIO)}
            </span>
          </span>
        }
      >
        <Problem error={graph.error} title="Service graph unavailable" />
        {g === null ? (
          <Empty>Loading…</Empty>
        ) : g.nodes.length === 0 ? (
          <Empty>No traces yet: the map appears as requests with spans arrive.</Empty>
        ) : (
          <>
            <ScrollX class="map-wrap">
              <ServiceMap graph={g} envColors={colors} />
            </ScrollX>
            <details>
              <summary class="small">Calls as a table</summary>
              <EdgeTable graph={g} />
            </details>
          </>
        )}
        {unsent.length > 0 && (
          <div class="small" aria-label="Callers that send no spans">
            <p class="muted">Spans whose caller is missing from the map:</p>
            <ul>
              {unsent.map((line) => (
                <li key={line}>{line}</li>
              ))}
            </ul>
          </div>
        )}
      </Panel>
      <Panel title="Entry routes">
        <Problem error={journeys.error} title="Journeys unavailable" />
        <Table
          label="Entry routes"
          columns={[
            'Route',
            num('Traces'),
            num('Failed'),
            num('p95'),
            prose('Critical path (share of its time)'),
          ]}
          rows={routes}
          empty={journeys.data === null ? 'Loading…' : 'No journey in the last five minutes.'}
          row={(j) => (
            <tr key={j.route}>
              <th scope="row">
                {j.route} <span class="muted small">→ {j.service}</span>
              </th>
              <td class="num">{j.traces}</td>
              <td class="num">{fmtPct(j.failureRatio)}</td>
              <td class="num">{fmtMs(j.p95)}</td>
              <td class="small">
                {j.criticalPath.length === 0 ? (
                  <span class="muted">
                    unknown: {j.service} sends no spans (only the gateway's time is seen)
                  </span>
                ) : (
                  j.criticalPath
                    .slice(0, 4)
                    .map((c) => `${c.service}·${c.env} ${Math.round(c.latencyShare * 100)}%`)
                    .join(' → ')
                )}
              </td>
            </tr>
          )}
        />
      </Panel>
      <TracePanel traceRef={traceRef} />
      <WhatIfPanel routes={routes} loaded={journeys.data !== null} />
    </>
  )
}

function EdgeTable(props: { graph: GraphAnswer }) {
  return (
    <Table
      label="Calls between services"
      columns={['From', 'To', num('Rate'), num('Errors'), num('p95')]}
      rows={props.graph.edges}
      row={(e) => (
        <tr key={e.id}>
          <td>{e.from.replace('|', ' · ')}</td>
          <td>{e.to.replace('|', ' · ')}</td>
          <td class="num">{fmtNum(e.ratePerSec)} req/s</td>
          <td class="num">
            {e.errorRatio > BAD_ERROR_RATIO ? (
              <Badge tone="bad">{fmtPct(e.errorRatio)}</Badge>
            ) : (
              fmtPct(e.errorRatio)
            )}
          </td>
          <td class="num">{fmtMs(e.p95)}</td>
        </tr>
      )}
    />
  )
}

function TracePanel(props: { traceRef: string | null }) {
  const now = useNow(5000)
  const [text, setText] = useState(props.traceRef ?? '')
  const [invalid, setInvalid] = useState('')
  const [errorsOnly, setErrorsOnly] = useState(false)
  const ref = props.traceRef
  const path =
    ref === null
      ? null
      : TRACE_ID.test(ref)
        ? `/api/traces/${ref.toLowerCase()}`
        : `/api/traces/by-request/${encodeURIComponent(ref)}`
  const trace = useApi<Waterfall>(path)
  const recent = useApi<{ traces: TraceItem[] }>(
    `/api/traces?window=5m&limit=8${errorsOnly ? '&status=error' : ''}`,
    5000,
  )
  const submit = (e: Event) => {
    e.preventDefault()
    const t = text.trim()
    if (t === '') return setInvalid('Enter a trace id (32 hex digits) or a request id (X-Request-Id).')
    if (t.length > 200) return setInvalid('That is too long for a trace id or a request id.')
    setInvalid('')
    navigate(href('journeys', 'trace', t))
  }
  return (
    <Panel title="Trace">
      <form class="row" onSubmit={submit} noValidate aria-label="Find a trace">
        <label>
          Trace id or request id
          <input
            id="trace-ref"
            size={40}
            value={text}
            aria-invalid={invalid !== ''}
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" class="primary">
          Show
        </button>
      </form>
      {invalid !== '' && <Problem error={new Error(invalid)} title="Not searched" />}
      <Problem error={ref !== null ? trace.error : null} title="No trace" />
      {trace.data !== null && ref !== null && <WaterfallView w={trace.data} />}
      <h3>
        Recent traces{' '}
        <label class="inline small">
          <input
            type="checkbox"
            checked={errorsOnly}
            onChange={(e) => setErrorsOnly((e.target as HTMLInputElement).checked)}
          />{' '}
          with errors only
        </label>
      </h3>
      <Problem error={recent.error} title="Trace search unavailable" />
      {(recent.data?.traces ?? []).length === 0 ? (
        <Empty>No trace kept in the last five minutes.</Empty>
      ) : (
        <ul class="feed" aria-label="Recent traces">
          {recent.data!.traces.map((t) => (
            <li key={t.traceId} style={{ gridTemplateColumns: '80px 1fr' }}>
              <time>{fmtSince(t.startMs, now)}</time>
              <div>
                <a href={href('journeys', 'trace', t.traceId)} class="mono small">
                  {t.traceId}
                </a>{' '}
                {t.abandoned && <AbandonedBadge />}{' '}
                {t.errorCount > 0 && <Badge tone="bad">{fmtCount(t.errorCount, 'error')}</Badge>}
                <div class="small muted">
                  {t.route ?? '–'} · {fmtMs(t.durationMs)} · {fmtCount(t.spanCount, 'span')} ·{' '}
                  {fmtCount(t.services.length, 'service')} in {t.envs.join(', ')}
                </div>
              </div>
            </li>
          ))}
        </ul>
      )}
    </Panel>
  )
}

/** A trace the client left before the answer (499): in the list and in its waterfall alike. */
function AbandonedBadge() {
  return <Badge tone="warn">abandoned by the client</Badge>
}

export function WaterfallView(props: { w: Waterfall }) {
  const { w } = props
  const total = Math.max(1, w.durationMs)
  const colors = envColors(w.envs)
  const p = w.problems
  const problems = [
    p.missingParents > 0 ? `${fmtCount(p.missingParents, 'span')} without their parent` : '',
    p.skewAdjusted > 0 ? `${p.skewAdjusted} shifted for clock skew` : '',
    p.duplicates > 0 ? `${p.duplicates} duplicates dropped` : '',
    p.cycles > 0 ? `${p.cycles} parent loops cut` : '',
  ].filter((x) => x !== '')
  return (
    <div class="waterfall-box" id="waterfall">
      <p>
        <strong>{w.route !== '' ? w.route : 'trace'}</strong> <span class="mono small">{w.traceId}</span>
        {w.requestId !== null && <span class="small muted"> · request {w.requestId}</span>} ·{' '}
        {fmtMs(w.durationMs)} · {fmtCount(w.spanCount, 'span')} across{' '}
        {fmtCount(w.services.length, 'service')} in {w.envs.join(', ')} · started {fmtTime(w.startMs)}{' '}
        {w.abandoned && <AbandonedBadge />}{' '}
        {w.errorCount > 0 ? (
          <Badge tone="bad">{fmtCount(w.errorCount, 'error')}</Badge>
        ) : (
          <Badge tone="ok">no error</Badge>
        )}
      </p>
      {w.note !== null && <p class="small muted">{w.note}</p>}
      {problems.length > 0 && <p class="small muted">Repaired: {problems.join(', ')}.</p>}
      <table class="waterfall" aria-label="Spans of the trace">
        <thead>
          <tr>
            <th scope="col">Span</th>
            <th scope="col">Timeline (◆ on the critical path)</th>
            <th scope="col" class="num">
              Duration
            </th>
          </tr>
        </thead>
        <tbody>
          {w.spans.map((s) => {
            const left = (100 * s.offsetMs) / total
            const width = Math.max(0.5, (100 * s.durationMs) / total)
            const err = s.status === 'error'
            const aborted = s.status === 'aborted'
            return (
              <tr key={s.spanId} class={err ? 'err' : aborted ? 'aborted' : undefined}>
                <td style={{ paddingLeft: `${6 + s.depth * 14}px` }}>
                  <span class="env-dot" style={{ background: colors[s.env] }} aria-hidden="true" />
                  <strong>{s.service}</strong> <span class="muted small">{s.env}</span>
                  <div class="small muted">
                    {s.name}
                    {s.httpStatus !== null && ` · ${s.httpStatus}`}
                    {err && ' · error'}
                    {aborted && ' · client left'}
                  </div>
                </td>
                <td class="wf-cell">
                  <div
                    class={`wf-bar ${err ? 'err' : aborted ? 'aborted' : ''} ${s.criticalMs > 0 ? 'crit' : ''}`}
                    style={{ left: `${left}%`, width: `${width}%` }}
                    title={`${s.service} ${s.name}: starts at +${fmtMs(s.offsetMs)}, lasts ${fmtMs(s.durationMs)}${s.criticalMs > 0 ? `, ${fmtMs(s.criticalMs)} on the critical path` : ''}`}
                  >
                    {s.criticalMs > 0 && <span aria-label="on the critical path">◆</span>}
                    {err && <span aria-label="error">✕</span>}
                    {aborted && <span aria-label="client left">!</span>}
                  </div>
                </td>
                <td class="num">{fmtMs(s.durationMs)}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}

const KINDS = [
  ['errorRatio', 'fails a share of calls'],
  ['latency', 'gets slower'],
  ['down', 'is down'],
  ['replicaLoss', 'loses replicas'],
] as const
type Kind = (typeof KINDS)[number][0]

function WhatIfPanel(props: { routes: JourneySummary[]; loaded: boolean }) {
  const [route, setRoute] = useState('')
  const [kind, setKind] = useState<Kind>('errorRatio')
  const [target, setTarget] = useState('')
  const [value, setValue] = useState('0.2')
  const [factor, setFactor] = useState('3')
  const [lost, setLost] = useState('1')
  const [minutes, setMinutes] = useState('10')
  const [horizon, setHorizon] = useState('30m')
  const [answer, setAnswer] = useState<WhatIfAnswer | null>(null)
  const a = useAction()
  const chosen = props.routes.find((j) => j.route === route) ?? props.routes[0]
  const r = chosen?.route ?? ''
  // only the services the route's traced journeys reach: any other answers "not called"
  const reached = (chosen?.services ?? []).map((s) => ({ id: `${s.service}|${s.env}`, ...s }))
  const t = reached.some((n) => n.id === target) ? target : (reached[0]?.id ?? '')
  const submit = (e: Event) => {
    e.preventDefault()
    const bad: string[] = []
    if (r === '') bad.push('route: no journey yet to simulate')
    if (t === '') bad.push(`service: no traced journey of ${r} reaches a service yet`)
    const [service, env] = t.split('|')
    const scenario: Record<string, unknown> = { kind, service, env }
    if (kind === 'errorRatio') {
      const v = Number(value)
      if (value.trim() === '' || !(v >= 0 && v <= 1)) bad.push('error ratio: a number from 0 to 1, e.g. 0.2')
      else scenario.value = v
    } else if (kind === 'latency') {
      const f = positive(factor, 'latency factor')
      if (typeof f === 'string') bad.push(f)
      else scenario.factor = f
    } else if (kind === 'replicaLoss') {
      const l = positive(lost, 'replicas lost', { integer: true, min: 1 })
      if (typeof l === 'string') bad.push(l)
      else scenario.lost = l
    }
    const m = positive(minutes, 'lasting (minutes)')
    if (typeof m === 'string') bad.push(m)
    else scenario.durationMs = Math.round(m * 60_000)
    if (!/^\d+(s|m|h)$/.test(horizon.trim())) bad.push('horizon: a duration like 30m or 1h')
    if (bad.length > 0) return a.fail(bad.join('; '))
    void a.run(async () => {
      const res = await api<WhatIfAnswer>('/api/whatif', {
        method: 'POST',
        body: { route: r, horizon: horizon.trim(), scenarios: [scenario] },
      })
      setAnswer(res)
      return ''
    })
  }
  const intro = (
    <p class="small muted">
      Runs the Monte Carlo engine on the journey model learned from recent traces and the traffic forecast:
      impact over the horizon, each figure with its interval.
    </p>
  )
  if (props.routes.length === 0)
    return (
      <Panel title="What if…">
        {intro}
        <Empty>
          {props.loaded
            ? 'No traced journey in the last five minutes: a what-if needs a route whose requests were traced. It appears here once traffic passes through the gateway.'
            : 'Loading…'}
        </Empty>
      </Panel>
    )
  return (
    <Panel title="What if…">
      {intro}
      <form class="row" onSubmit={submit} noValidate aria-label="What-if scenario">
        <label>
          Route
          <select
            id="whatif-route"
            value={r}
            onChange={(e) => {
              setRoute((e.target as HTMLSelectElement).value)
              setAnswer(null)
            }}
          >
            {props.routes.map((j) => (
              <option key={j.route} value={j.route}>
                {j.route}
              </option>
            ))}
          </select>
        </label>
        <label>
          Service
          <select
            id="whatif-service"
            value={t}
            disabled={reached.length === 0}
            onChange={(e) => setTarget((e.target as HTMLSelectElement).value)}
          >
            {reached.length === 0 && <option value="">none traced yet</option>}
            {reached.map((n) => (
              <option key={n.id} value={n.id}>
                {n.service} · {n.env}
              </option>
            ))}
          </select>
        </label>
        <label>
          Scenario
          <select
            id="whatif-kind"
            value={kind}
            onChange={(e) => setKind((e.target as HTMLSelectElement).value as Kind)}
          >
            {KINDS.map(([k, l]) => (
              <option key={k} value={k}>
                {l}
              </option>
            ))}
          </select>
        </label>
        {kind === 'errorRatio' && (
          <label>
            Error ratio (0–1)
            <input
              id="whatif-value"
              size={5}
              value={value}
              onInput={(e) => setValue((e.target as HTMLInputElement).value)}
            />
          </label>
        )}
        {kind === 'latency' && (
          <label>
            Slower by (×)
            <input
              id="whatif-factor"
              size={4}
              value={factor}
              onInput={(e) => setFactor((e.target as HTMLInputElement).value)}
            />
          </label>
        )}
        {kind === 'replicaLoss' && (
          <label>
            Replicas lost
            <input
              id="whatif-lost"
              size={3}
              value={lost}
              onInput={(e) => setLost((e.target as HTMLInputElement).value)}
            />
          </label>
        )}
        <label>
          Lasting (min)
          <input
            id="whatif-minutes"
            size={4}
            value={minutes}
            onInput={(e) => setMinutes((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Horizon
          <input
            id="whatif-horizon"
            size={5}
            value={horizon}
            onInput={(e) => setHorizon((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" class="primary" disabled={a.busy}>
          {a.busy ? 'Simulating…' : 'Simulate'}
        </button>
      </form>
      {chosen !== undefined && chosen.criticalPath.length === 0 && reached.length > 0 && (
        <p class="small muted">
          Only {chosen.service} is offered: its journey sends no spans past the gateway, so the services it
          calls are not known.
        </p>
      )}
      <Result a={a} title="Not simulated" />
      {answer !== null && <WhatIfResult answer={answer} />}
    </Panel>
  )
}

function WhatIfResult(props: { answer: WhatIfAnswer }) {
  const { answer } = props
  return (
    <div id="whatif-result">
      {answer.journeys.map((j) => (
        <Fragment key={j.route}>
          <h3>
            {j.route}: over the next {Math.round(answer.horizonMs / 60_000)} min at{' '}
            {iv(j.trafficPerSec, fmtNum)} req/s ({j.trafficSource})
          </h3>
          <Table
            label={`What-if impact on ${j.route}`}
            columns={['Figure (90% interval)', 'As things are', 'With the scenario']}
            rows={whatIfRows(answer)}
            row={([label, f]) => (
              <tr key={label}>
                <th scope="row">{label}</th>
                <td>{f(j.baseline, j)}</td>
                <td>
                  <strong>{j.scenario !== null ? f(j.scenario, j) : '–'}</strong>
                </td>
              </tr>
            )}
          />
          {j.applied.length > 0 && (
            <p class="small muted">
              Changed: {j.applied.map((x) => `${sitePath(x.site)}: ${x.change}`).join('; ')}
            </p>
          )}
          <UsersNote j={j} horizonMs={answer.horizonMs} />
          <p class="small muted">
            {fmtNum(j.scenario?.simulatedJourneys ?? j.baseline.simulatedJourneys)} journeys simulated.
          </p>
        </Fragment>
      ))}
    </div>
  )
}

/** Why "users affected" reads as everyone: the figure is capped by the users seen, not an estimate gone wrong. */
function UsersNote(props: { j: Journey; horizonMs: number }) {
  const { j } = props
  const seen = j.usersSeen
  const o = j.scenario ?? j.baseline
  if (seen === null || seen <= 0 || o.usersAffected === null || Math.round(o.usersAffected.value) < seen)
    return null
  const perUser = (j.trafficPerSec.value * props.horizonMs) / 1000 / seen
  return (
    <p class="small muted" id="whatif-users-note">
      Users affected counts the {fmtCount(seen, 'user')} (API clients) seen lately, at most: each sends on
      average about {fmtNum(Math.round(perUser))} requests to {j.route} over the horizon, so even a small
      share of requests missing the SLO reaches every one of them at least once. Compare failed requests and
      downtime instead.
    </p>
  )
}
