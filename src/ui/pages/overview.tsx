/** Overview: the whole system at a glance, live. */
import { useEffect, useState } from 'preact/hooks'
import type { ActivityEntry } from '../../api/activity.js'
import type { LiveSeries } from '../../api/live-sections.js'
import type { Session } from '../app.js'
import { Chart, FORECAST_OFF, forecastTraces, gapSeconds, pctTick } from '../components/chart.js'
import { forecastNotYet } from '../components/legend.js'
import { num, Table } from '../components/table.js'
import { Badge, Card, Empty, Panel, Sparkline, type Tone } from '../components/ui.js'
import { keyPath } from '../lib/api.js'
import { defensiveMode } from '../lib/defensive.js'
import {
  fmtSince,
  fmtCount,
  fmtMs,
  fmtPct,
  fmtRate,
  fmtTime,
  keyLabel,
  localTimes,
  readableKeys,
} from '../lib/format.js'
import { useHistory, useSeriesKnown } from '../lib/history.js'
import { replicasText } from './scale-evidence.js'
import { seriesNow } from '../lib/idle.js'
import { useApi, useLive, useNow } from '../lib/hooks.js'
import { liveStore } from '../lib/live.js'
import { href } from '../lib/router.js'
import type {
  Anomaly,
  ForecastAnswer,
  LimitsLive,
  LearningSummary,
  LiveAlert,
  LiveScaling,
  ServiceView,
} from '../lib/types.js'
import { AnomalyList, anomalyMarks, CHART_METRICS, marksOn } from './anomalies.js'
import { anomaliesUnavailable, learningLine, serviceLearning } from './learning-line.js'
import { alertStates } from './alert-states.js'

const GLOBAL = '*|*|*'
/** rows of the services table until "show all": a big table re-lays out on every live event */
const TOP_SERVICES = 20
const SPARK = 30
/** recent rates of service-level and global series, for sparklines without extra requests */
const sparks = new Map<string, number[]>()
liveStore.onEvent((ev) => {
  if (ev.snapshot) sparks.clear()
  for (const s of (ev.upsert.series ?? []) as LiveSeries[]) {
    if (s.level === 'route') continue
    let a = sparks.get(s.key)
    if (a === undefined) sparks.set(s.key, (a = []))
    a.push(s.rate)
    if (a.length > SPARK) a.shift()
  }
})

export function serviceHealth(v: ServiceView | undefined): { tone: Tone; text: string } {
  if (v === undefined) return { tone: 'muted', text: 'no targets' }
  const n = v.targets.length
  const open = v.targets.filter((t) => t.breaker === 'open').length
  const down = v.targets.filter((t) => !t.healthy).length
  const ok = v.targets.filter((t) => t.healthy && t.breaker === 'closed').length
  if (ok === 0) return { tone: 'bad', text: open > 0 ? 'ejected' : 'down' }
  if (open > 0 || down > 0) return { tone: 'warn', text: `${ok}/${n} healthy` }
  return { tone: 'ok', text: n === 1 ? 'healthy' : `${n}/${n} healthy` }
}

export function OverviewPage(props: { session: Session }) {
  const store = useLive()
  const now = useNow(5_000)
  const series = store.items<LiveSeries>('series')
  const anomalies = store.items<Anomaly>('anomalies')
  const summary = store.value<LearningSummary>('learning')
  const learning = learningLine(summary)
  const unknown = anomaliesUnavailable(store.errors.anomalies)
  // a gateway's own dashboard (scaled out) and a config with detect.enabled: false detect nothing:
  // "none open" there would claim a calm nobody checked
  const detecting = props.session.features.includes('anomalies')
  const notDetected =
    props.session.mode === 'gateway'
      ? 'the control plane (vigil control) detects anomalies: its dashboard shows them'
      : 'anomaly detection is off (detect.enabled: false)'
  const activity = store
    .items<ActivityEntry>('activity')
    .sort((a, b) => (a.atMs === b.atMs ? (a.id < b.id ? 1 : -1) : b.atMs - a.atMs))
  const services = store.value<ServiceView[]>('services') ?? []
  const limits = store.value<LimitsLive>('limits')
  const alerts = store.items<LiveAlert>('alerts').sort((a, b) => alertRank(a) - alertRank(b))
  const scaling = store.items<LiveScaling>('scaling')
  const hasAlerts = props.session.features.includes('alerts')
  // scaled out, the gateways check their targets and the control plane sees none of it: a Health
  // column there would read "no targets" beside live traffic
  const targetsHere = props.session.mode !== 'control'
  const serverNow = store.serverNow()
  const global = series.find((s) => s.key === GLOBAL)
  const g = global !== undefined ? seriesNow(global, serverNow) : undefined
  const idle = g !== undefined && g.idleSince !== null ? `no requests since ${fmtTime(g.idleSince)}` : null
  const withNow = (s: LiveSeries) => ({ ...s, now: seriesNow(s, serverNow) })
  const byService = series
    .filter((s) => s.level === 'service')
    .map(withNow)
    .sort((a, b) => b.now.rate - a.now.rate)
  const routes = series
    .filter((s) => s.level === 'route')
    .map(withNow)
    .sort((a, b) => b.now.rate - a.now.rate)
    .slice(0, 10)
  const known = useSeriesKnown(GLOBAL, global, props.session.windowMs)
  const { points } = useHistory(
    known && props.session.features.includes('series') ? GLOBAL : null,
    30 * 60_000,
  )
  const [allServices, setAllServices] = useState(false)
  const [waiting, setWaiting] = useState(true)
  // without the feature the config turned forecasting off: nothing to ask, and the chart says so
  const forecasting = props.session.features.includes('forecasts')
  const forecast = useApi<ForecastAnswer>(
    known && forecasting ? `/api/series/${keyPath(GLOBAL)}/forecast` : null,
    waiting ? Math.max(2_000, props.session.windowMs) : 30_000,
  )
  const ready = forecast.data?.status === 'ok'
  useEffect(() => setWaiting(!ready), [ready])
  const defensive = limits !== undefined ? defensiveMode(limits.controls) : null
  const critical = anomalies.filter((a) => a.score >= 0.9).length

  const f = forecast.data?.status === 'ok' ? forecast.data : null
  const traffic = forecastTraces(
    points,
    forecasting ? f : 'off',
    f !== null ? `forecast (${f.model})` : 'forecast',
    forecastNotYet(forecast.data),
  )
  const fc = traffic.ahead
  const x = points.map((p) => p.t / 1000)
  const last = points.at(-1)
  const marks = anomalyMarks(
    anomalies.filter((a) => a.level === 'global' || a.level === 'service' || a.level === 'client'),
    now,
    true,
  )
  return (
    <>
      <div class="grid cards" style={{ marginBottom: '14px' }}>
        <Card
          label="Request rate"
          value={fmtRate(g?.rate)}
          sub={
            idle ??
            (global ? (
              <Sparkline values={sparks.get(GLOBAL) ?? []} width={120} />
            ) : props.session.features.includes('series') ? (
              'waiting for the first window'
            ) : (
              "every gateway's windows are merged on the control plane: see its dashboard"
            ))
          }
          id="kpi-rate"
        />
        <Card
          label="Error ratio (5xx)"
          value={fmtPct(g?.err)}
          sub={idle ?? (global ? `window at ${fmtTime(global.t)}` : undefined)}
        />
        <Card label="p95 latency" value={fmtMs(g?.p95)} sub={`p99 ${fmtMs(g?.p99)}`} />
        <Card label="Throttled (429)" value={fmtPct(g?.lim)} />
        <Card
          label="Active anomalies"
          value={anomalies.length === 0 && (unknown !== null || !detecting) ? '–' : anomalies.length}
          sub={
            anomalies.length === 0 ? (
              !detecting ? (
                <Badge tone="muted" title={notDetected}>
                  {props.session.mode === 'gateway' ? 'on the control plane' : 'detection off'}
                </Badge>
              ) : unknown !== null ? (
                <Badge tone="warn" title={unknown.title}>
                  {unknown.text}
                </Badge>
              ) : learning !== null ? (
                <Badge tone="info" title={learning}>
                  learning
                </Badge>
              ) : (
                <Badge tone="ok">none open</Badge>
              )
            ) : (
              <Badge tone={critical > 0 ? 'bad' : 'warn'}>
                {critical > 0 ? `${critical} critical` : `${anomalies.length} warning`}
              </Badge>
            )
          }
          id="kpi-anomalies"
        />
        {hasAlerts && (
          <Card
            label="Active alerts"
            value={alerts.length}
            sub={
              alerts.length === 0 ? (
                <Badge tone="ok">none firing</Badge>
              ) : (
                <Badge tone={alerts.some((a) => a.state === 'firing') ? 'bad' : 'warn'}>
                  {alertStates(alerts)}
                </Badge>
              )
            }
            id="kpi-alerts"
          />
        )}
        <Card
          label="Defensive mode"
          value={defensive === null ? '–' : defensive.global || defensive.services.length > 0 ? 'ON' : 'off'}
          sub={
            defensive === null ? (
              'limits off'
            ) : defensive.global ? (
              <Badge tone="warn">{defensive.reason || 'on'}</Badge>
            ) : defensive.services.length > 0 ? (
              <Badge tone="warn" title={readableKeys(localTimes(defensive.reason))}>
                {defensive.services.join(', ')} only
              </Badge>
            ) : (
              <Badge tone="ok">normal limits</Badge>
            )
          }
          id="kpi-defensive"
        />
      </div>
      <div class="grid three">
        <Panel title="Traffic, all services">
          {points.length < 2 ? (
            <Empty>Waiting for a few windows of traffic…</Empty>
          ) : (
            <Chart
              title="Requests per second"
              {...traffic}
              marks={marksOn(marks, CHART_METRICS.traffic)}
              now={now / 1000}
              yFormat={(v) => `${v}`}
              gapS={gapSeconds(props.session.windowMs)}
              summary={`now ${fmtRate(last?.rate)}; ${!forecasting ? FORECAST_OFF : fc.length > 0 ? `forecast ${fmtRate(fc.at(-1)?.forecast)} in ${Math.round(((fc.at(-1)?.atMs ?? now) - now) / 60_000)} min` : 'no forecast yet'}`}
              extra={!forecasting && <span class="small muted">{FORECAST_OFF}</span>}
            />
          )}
        </Panel>
        <Panel title="Latency, all services">
          {points.length < 2 ? (
            <Empty>Waiting for a few windows of traffic…</Empty>
          ) : (
            <Chart
              title="p50 / p95 / p99"
              x={x}
              ys={[points.map((p) => p.p50), points.map((p) => p.p95), points.map((p) => p.p99)]}
              series={[
                { label: 'p50', color: '--series-4', width: 1.2 },
                { label: 'p95', color: '--series-1' },
                { label: 'p99', color: '--series-2', dash: [2, 3] },
              ]}
              marks={marksOn(marks, CHART_METRICS.latency)}
              yFormat={(v) => fmtMs(v)}
              gapS={gapSeconds(props.session.windowMs)}
              summary={`p50 ${fmtMs(last?.p50)}, p95 ${fmtMs(last?.p95)}, p99 ${fmtMs(last?.p99)}`}
            />
          )}
        </Panel>
        <Panel title="Errors and throttling, all services">
          {points.length < 2 ? (
            <Empty>Waiting for a few windows of traffic…</Empty>
          ) : (
            <Chart
              title="5xx and 429 ratio (%)"
              x={x}
              ys={[points.map((p) => p.err * 100), points.map((p) => p.lim * 100)]}
              series={[
                { label: '5xx %', color: '--series-3' },
                { label: 'throttled %', color: '--series-2', dash: [4, 3], width: 1.2 },
              ]}
              marks={marksOn(marks, CHART_METRICS.errors)}
              yFormat={pctTick}
              gapS={gapSeconds(props.session.windowMs)}
              summary={`errors ${fmtPct(last?.err)}, throttled ${fmtPct(last?.lim)}`}
            />
          )}
        </Panel>
      </div>
      <Panel
        title="Services"
        right={
          <span class="small muted">
            {targetsHere ? (
              <>
                {fmtCount(services.length, 'service')},{' '}
                {fmtCount(
                  services.reduce((n, v) => n + v.targets.length, 0),
                  'target',
                )}
              </>
            ) : (
              "target health: each gateway's admin API (/api/services)"
            )}
          </span>
        }
      >
        <Table
          columns={[
            'Service',
            'Env',
            targetsHere && 'Health',
            num('Requests'),
            'Trend',
            num('Errors'),
            num('p95'),
            num('Throttled'),
            'Anomalies',
            scaling.length > 0 && 'Replicas',
          ]}
          rows={allServices ? byService : byService.slice(0, TOP_SERVICES)}
          empty="No service has reported a window yet."
          row={(s) => {
            const h = serviceHealth(services.find((v) => v.name === s.service))
            const open = anomalies.filter((a) => a.series.service === s.service && a.series.env === s.env)
            const warming = open.length === 0 ? (unknown ?? serviceLearning(summary, s.service, s.env)) : null
            return (
              <tr key={s.key}>
                <th scope="row">
                  <a href={href('series', s.key)}>{s.service}</a>
                </th>
                <td>{s.env}</td>
                {targetsHere && (
                  <td>
                    <Badge tone={h.tone}>{h.text}</Badge>
                  </td>
                )}
                <td class="num">
                  {fmtRate(s.now.rate)}
                  <IdleSince t={s.now.idleSince} />
                </td>
                <td>
                  <Sparkline values={sparks.get(s.key) ?? []} />
                </td>
                <td class="num">{fmtPct(s.now.err)}</td>
                <td class="num">{fmtMs(s.now.p95)}</td>
                <td class="num">{fmtPct(s.now.lim)}</td>
                <td>
                  {warming !== null ? (
                    <Badge tone={warming.tone ?? 'info'} title={warming.title}>
                      {warming.text}
                    </Badge>
                  ) : open.length === 0 ? (
                    <Badge tone="ok">none</Badge>
                  ) : (
                    <Badge tone="bad">{open.length} open</Badge>
                  )}
                </td>
                {scaling.length > 0 && <td>{replicasText(scaling.find((r) => r.id === s.service))}</td>}
              </tr>
            )
          }}
        />
        {byService.length > TOP_SERVICES && (
          <button type="button" onClick={() => setAllServices(!allServices)} style={{ marginTop: '8px' }}>
            {allServices ? `Show the busiest ${TOP_SERVICES}` : `Show all ${byService.length} services`}
          </button>
        )}
      </Panel>
      {hasAlerts && (
        <Panel title="Active alerts" right={<a href={href('alerts')}>All alerts</a>}>
          <ActiveAlerts alerts={alerts} now={now} />
        </Panel>
      )}
      <div class="grid two">
        <Panel title="Active anomalies">
          <AnomalyList
            anomalies={anomalies}
            now={now}
            empty={
              !detecting
                ? `Not here: ${notDetected}.`
                : (unknown?.title ?? learning ?? 'Nothing unusual right now.')
            }
            nest
          />
        </Panel>
        <Panel title="What Vigil did last">
          {activity.length === 0 ? (
            <Empty>Nothing yet: anomalies, limit changes and other actions appear here as they happen.</Empty>
          ) : (
            <ul class="feed" aria-label="Recent activity">
              {activity.slice(0, 15).map((e) => (
                <li key={e.id}>
                  <time dateTime={new Date(e.atMs).toISOString()} title={new Date(e.atMs).toLocaleString()}>
                    {fmtTime(e.atMs)}
                  </time>
                  <span class={`sev ${e.severity}`} aria-label={e.severity}>
                    {e.severity === 'critical' ? '✕' : e.severity === 'warning' ? '!' : 'i'}
                  </span>
                  <span>{readableKeys(localTimes(e.summary))}</span>
                </li>
              ))}
            </ul>
          )}
        </Panel>
      </div>
      <Panel title="Busiest routes">
        <Table
          columns={['Route', num('Requests'), num('Errors'), num('p50'), num('p95'), num('p99'), 'Updated']}
          rows={routes}
          empty="No route has reported a window yet."
          row={(s) => (
            <tr key={s.key}>
              <th scope="row">
                <a href={href('series', s.key)}>{keyLabel(s.key)}</a>
              </th>
              <td class="num">
                {fmtRate(s.now.rate)}
                <IdleSince t={s.now.idleSince} />
              </td>
              <td class="num">{fmtPct(s.now.err)}</td>
              <td class="num">{fmtMs(s.now.p50)}</td>
              <td class="num">{fmtMs(s.now.p95)}</td>
              <td class="num">{fmtMs(s.now.p99)}</td>
              <td class="small muted">{fmtSince(s.t + s.d, serverNow)}</td>
            </tr>
          )}
        />
      </Panel>
    </>
  )
}

/** Under a rate of 0: since when the series has had no request. */
export function IdleSince(props: { t: number | null }) {
  if (props.t === null) return null
  return <div class="small muted">idle since {fmtTime(props.t)}</div>
}

const STATE_RANK: Record<string, number> = { firing: 0, pending: 1 }
const SEVERITY_RANK: Record<string, number> = { critical: 0, warning: 1, info: 2 }
function alertRank(a: LiveAlert): number {
  return (STATE_RANK[a.state] ?? 2) * 10 + (SEVERITY_RANK[a.severity] ?? 3)
}

function ActiveAlerts(props: { alerts: LiveAlert[]; now: number }) {
  if (props.alerts.length === 0) return <Empty>No alert is pending or firing.</Empty>
  return (
    <ul class="feed" aria-label="Active alerts">
      {props.alerts.slice(0, 8).map((a) => (
        <li key={a.id} style={{ gridTemplateColumns: '90px 1fr' }}>
          <span>
            <Badge tone={a.state === 'firing' ? 'bad' : 'warn'}>{a.state}</Badge>
          </span>
          <div>
            <a href={href('alerts', a.id)}>{a.rule}</a> on {keyLabel(a.series)}{' '}
            <span class="small muted">
              {a.severity} · since {fmtSince(a.firingAtMs ?? a.activeAtMs, props.now)}
              {a.ackBy !== null && ` · acknowledged by ${a.ackBy}`}
              {a.suppressed !== null && ` · ${a.suppressed}`}
            </span>
            <div class="small">{localTimes(a.summary)}</div>
          </div>
        </li>
      ))}
    </ul>
  )
}
