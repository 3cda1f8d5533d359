/** Service and route detail: traffic with its forecast, latency, errors and anomalies of one series. */
import { useEffect, useState } from 'preact/hooks'
import type { LiveSeries } from '../../api/live-sections.js'
import type { Session } from '../app.js'
import { Chart, FORECAST_OFF, forecastTraces, gapSeconds } from '../components/chart.js'
import { forecastNotYet } from '../components/legend.js'
import { num, Table } from '../components/table.js'
import { Badge, Card, Empty, Panel, Problem } from '../components/ui.js'
import { keyPath } from '../lib/api.js'
import {
  fmtCount,
  fmtMs,
  fmtNum,
  fmtPct,
  fmtRate,
  fmtTime,
  keyLabel,
  METRIC_NAMES,
  parseSeriesKey,
} from '../lib/format.js'
import { fromLive, useHistory, useSeriesKnown } from '../lib/history.js'
import { seriesNow } from '../lib/idle.js'
import { useApi, useLive, useNow } from '../lib/hooks.js'
import { href } from '../lib/router.js'
import type { Anomaly, ForecastAnswer, ForecastReady, LearningSummary } from '../lib/types.js'
import { AnomalyList, anomalyMarks, CHART_METRICS, marksOn } from './anomalies.js'
import { anomaliesUnavailable, seriesLearning } from './learning-line.js'
import { IdleSince } from './overview.js'
import { ScoresPanel } from './scores.js'

const RANGES: ReadonlyArray<[string, number]> = [
  ['15m', 15 * 60_000],
  ['1h', 60 * 60_000],
  ['6h', 6 * 60 * 60_000],
]

export function SeriesPage(props: { session: Session; args: string[] }) {
  const store = useLive()
  const key = props.args[0] ?? null
  const rangeName = props.args[1] ?? '1h'
  const rangeMs = RANGES.find(([n]) => n === rangeName)?.[1] ?? 3_600_000
  const series = store.items<LiveSeries>('series')
  // re-read now and then: a series turns idle without any event saying so
  useNow(5_000)
  const serverNow = store.serverNow()
  if (key === null)
    return (
      <SeriesIndex
        series={series}
        serverNow={serverNow}
        anomalies={store.items<Anomaly>('anomalies')}
        learning={store.value<LearningSummary>('learning')}
        unavailable={store.errors.anomalies}
      />
    )
  const parts = parseSeriesKey(key)
  if (parts === null)
    return (
      <>
        <Problem
          title="No such series"
          error={
            new Error(
              `"${key}" is not a series key: a series is service|route|env, * for all (shop|*|demo is the shop service in env demo). Pick one below.`,
            )
          }
        />
        <SeriesIndex
          series={series}
          serverNow={serverNow}
          anomalies={store.items<Anomaly>('anomalies')}
          learning={store.value<LearningSummary>('learning')}
          unavailable={store.errors.anomalies}
        />
      </>
    )
  const { service, env } = parts
  const siblings = series
    .filter((s) => s.service === service && s.env === env)
    .sort((a, b) => (a.level === b.level ? a.route.localeCompare(b.route) : a.level === 'service' ? -1 : 1))
  return (
    <>
      <nav class="tabs" aria-label="Series of this service">
        {siblings.map((s) => (
          <a
            key={s.key}
            href={href('series', s.key, rangeName)}
            aria-current={s.key === key ? 'page' : undefined}
          >
            {s.level === 'global'
              ? 'all services'
              : s.level === 'service'
                ? `${s.service} (all routes)`
                : s.route}
          </a>
        ))}
        <span style={{ flex: 1 }} />
        {RANGES.map(([n]) => (
          <a key={n} href={href('series', key, n)} aria-current={n === rangeName ? 'page' : undefined}>
            last {n}
          </a>
        ))}
      </nav>
      <SeriesDetail
        key={`${key}/${rangeMs}`}
        session={props.session}
        seriesKey={key}
        rangeMs={rangeMs}
        live={series.find((s) => s.key === key)}
        title={capitalize(keyLabel(key))}
      />
    </>
  )
}

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1)

/**
 * Every service with its routes under it, as the newest window has them: what a user scans for the
 * one to open (an idle series says since when).
 */
function SeriesIndex(props: {
  series: LiveSeries[]
  serverNow: number
  anomalies: readonly Anomaly[]
  learning: LearningSummary | undefined
  /** the live feed's error for anomalies, when this process cannot read them */
  unavailable: string | undefined
}) {
  const services = props.series.filter((s) => s.level !== 'route').sort((a, b) => a.key.localeCompare(b.key))
  const rows = services.flatMap((s) => [
    s,
    ...props.series
      .filter((r) => r.level === 'route' && r.service === s.service && r.env === s.env)
      .sort((a, b) => a.route.localeCompare(b.route)),
  ])
  return (
    <Panel title="Services and routes" right={<span class="small muted">the newest window of each</span>}>
      <Table
        columns={[
          'Series',
          num('Requests'),
          num('5xx'),
          num('Throttled'),
          num('p50'),
          num('p95'),
          num('p99'),
          'Anomalies',
        ]}
        rows={rows}
        empty="No series yet: they appear as traffic arrives."
        row={(s) => {
          const now = seriesNow(s, props.serverNow)
          const open = props.anomalies.filter((a) => a.key === s.key && a.state !== 'resolved').length
          const warming =
            open === 0
              ? (anomaliesUnavailable(props.unavailable) ?? seriesLearning(props.learning, s.key))
              : null
          return (
            <tr key={s.key}>
              <th
                scope="row"
                style={s.level === 'route' ? { paddingLeft: '1.5em', fontWeight: 'normal' } : {}}
              >
                <a href={href('series', s.key)}>{s.level === 'route' ? s.route : keyLabel(s.key)}</a>
              </th>
              <td class="num">
                {fmtRate(now.rate)}
                <IdleSince t={now.idleSince} />
              </td>
              <td class="num">{fmtPct(now.err)}</td>
              <td class="num">{fmtPct(now.lim)}</td>
              <td class="num">{fmtMs(now.p50)}</td>
              <td class="num">{fmtMs(now.p95)}</td>
              <td class="num">{fmtMs(now.p99)}</td>
              <td>
                {warming !== null ? (
                  <Badge tone={warming.tone ?? 'info'} title={warming.title}>
                    {warming.text}
                  </Badge>
                ) : open === 0 ? (
                  <Badge tone="ok">none</Badge>
                ) : (
                  <Badge tone="bad">{open} open</Badge>
                )}
              </td>
            </tr>
          )
        }}
      />
    </Panel>
  )
}

function SeriesDetail(props: {
  session: Session
  seriesKey: string
  rangeMs: number
  live: LiveSeries | undefined
  title: string
}) {
  const { seriesKey: key, session } = props
  const now = useNow(5_000)
  const store = useLive()
  const known = useSeriesKnown(key, props.live, session.windowMs)
  const { points, error } = useHistory(known ? key : null, props.rangeMs)
  const [service, , env] = key.split('|')
  // a forecast is refitted every few windows; until there is enough history, ask every window
  const [waiting, setWaiting] = useState(true)
  const forecasting = session.features.includes('forecasts')
  const forecast = useApi<ForecastAnswer>(
    known && forecasting ? `/api/series/${keyPath(key)}/forecast` : null,
    waiting ? Math.max(2_000, session.windowMs) : 30_000,
  )
  const ready = forecast.data?.status === 'ok'
  useEffect(() => setWaiting(!ready), [ready])
  const history = useApi<{ anomalies: Anomaly[] }>(
    session.features.includes('anomalies')
      ? `/api/anomalies?state=all&from=${Math.floor((now - props.rangeMs) / 60_000) * 60_000}${service !== '*' ? `&service=${encodeURIComponent(service)}` : ''}${env !== '*' ? `&env=${encodeURIComponent(env)}` : ''}`
      : null,
    30_000,
  )
  const open = store.items<Anomaly>('anomalies').filter((a) => a.key === key)
  const unknown = anomaliesUnavailable(store.errors.anomalies)
  const mine = mergeAnomalies(history.data?.anomalies.filter((a) => a.key === key) ?? [], open)
  const marks = anomalyMarks(mine, now)
  const shown = points.filter((p) => p.t >= now - props.rangeMs)
  const last = shown.at(-1) ?? (props.live ? fromLive(props.live) : undefined)
  const cur = last !== undefined ? seriesNow({ ...last, d: session.windowMs }, store.serverNow()) : undefined
  const idle =
    cur !== undefined && cur.idleSince !== null ? `no requests since ${fmtTime(cur.idleSince)}` : null
  const f = forecast.data?.status === 'ok' ? forecast.data : null
  const traffic = forecastTraces(shown, forecasting ? f : 'off', 'forecast', forecastNotYet(forecast.data))
  const fc = traffic.ahead
  return (
    <>
      <h2 style={{ fontSize: '17px', margin: '0 0 10px' }}>{props.title}</h2>
      <div class="grid cards" style={{ marginBottom: '14px' }}>
        <Card
          label="Request rate"
          value={fmtRate(cur?.rate)}
          sub={idle ?? (last ? `window at ${fmtTime(last.t)}` : undefined)}
        />
        <Card
          label="Error ratio (5xx)"
          value={fmtPct(cur?.err)}
          sub={cur && cur.uerr !== cur.err ? `upstream's own ${fmtPct(cur.uerr)}` : undefined}
        />
        <Card
          label="p50 / p95 / p99"
          value={fmtMs(cur?.p95)}
          sub={`p50 ${fmtMs(cur?.p50)} · p99 ${fmtMs(cur?.p99)}`}
        />
        <Card label="Throttled (429)" value={fmtPct(cur?.lim)} />
        <Card
          label="Open anomalies"
          value={open.length === 0 && unknown !== null ? '–' : open.length}
          sub={
            open.length === 0 ? (
              unknown !== null ? (
                <Badge tone="warn" title={unknown.title}>
                  {unknown.text}
                </Badge>
              ) : (
                <Badge tone="ok">none open</Badge>
              )
            ) : (
              <Badge tone="bad">{open.map((a) => METRIC_NAMES[a.metric] ?? a.metric).join(', ')}</Badge>
            )
          }
        />
      </div>
      <Problem error={error} title="History unavailable" />
      <Panel title={forecasting ? 'Traffic and forecast' : 'Traffic'}>
        {!known ? (
          <Empty>No window of this series has closed yet: the page fills in when its first one does.</Empty>
        ) : shown.length < 2 ? (
          <Empty>Waiting for a few windows of traffic on this series…</Empty>
        ) : (
          <Chart
            title="Requests per second"
            {...traffic}
            marks={marksOn(marks, CHART_METRICS.traffic)}
            now={now / 1000}
            height={230}
            gapS={gapSeconds(session.windowMs)}
            summary={`now ${fmtRate(cur?.rate)}; ${!forecasting ? FORECAST_OFF : f !== null ? `model ${f.model} forecasts ${fmtRate(fc.at(-1)?.forecast)} by ${fmtTime(fc.at(-1)?.atMs)}` : 'no forecast yet'}; ${fmtCount(mine.length, 'anomaly', 'anomalies')} in range`}
          />
        )}
        {forecasting ? <ForecastInfo answer={forecast.data} error={forecast.error} /> : <ForecastOff />}
      </Panel>
      <ScoresPanel
        session={session}
        seriesKey={key}
        points={shown}
        rangeMs={props.rangeMs}
        marks={marks}
        now={now}
      />
      <Panel title="Anomalies on this series">
        <AnomalyList
          anomalies={mine}
          now={now}
          empty={
            seriesLearning(store.value<LearningSummary>('learning'), key)?.title ??
            'No anomaly on this series in this range.'
          }
        />
      </Panel>
    </>
  )
}

function mergeAnomalies(a: readonly Anomaly[], b: readonly Anomaly[]): Anomaly[] {
  const m = new Map<string, Anomaly>()
  for (const x of a) m.set(x.id, x)
  for (const x of b) m.set(x.id, x)
  return [...m.values()]
}

/** Where the forecast's details would be: why there are none, and the setting that brings them. */
function ForecastOff() {
  return (
    <p class="small muted">
      Forecasting is off (<code>forecast.enabled: false</code> in the config): the chart shows the observed
      rate only.
    </p>
  )
}

function ForecastInfo(props: { answer: ForecastAnswer | null; error: Error | null }) {
  const a = props.answer
  if (props.error !== null) return <Problem error={props.error} title="Forecast unavailable" />
  if (a === null) return null
  if (a.status !== 'ok')
    return (
      <p class="small muted">
        No forecast yet: this series has {a.have} of the {a.need} windows of history a forecast needs.
      </p>
    )
  return <ForecastDetails f={a} />
}

function ForecastDetails(props: { f: ForecastReady }) {
  const f = props.f
  const best = f.backtest[0]
  const fail = [
    ['error ratio', f.failure.errorRatio, fmtPct],
    ['p95 latency', f.failure.p95, fmtMs],
  ] as const
  return (
    <details class="small" style={{ marginTop: '8px' }} open>
      <summary>
        Model <strong class="mono">{f.model}</strong>
        {best !== undefined && (
          <>
            {' '}
            · backtest MASE {fmtNum(best.mase)}, sMAPE {fmtNum(best.smape)}%
          </>
        )}{' '}
        · {f.horizon} windows ahead · fitted {fmtTime(f.fittedAtMs)} on {f.historyPoints} windows
      </summary>
      <div class="grid two" style={{ marginTop: '8px' }}>
        <Table
          caption="Candidates, best first (lower MASE is better; 1 is the in-sample error of the seasonal-naive forecast, so forecasts many windows ahead often score above 1)"
          columns={['Model', num('MASE'), num('sMAPE'), num('Weight')]}
          rows={f.backtest.slice(0, 8)}
          row={(b) => (
            <tr key={b.model}>
              <td class="mono">{b.model}</td>
              <td class="num">{fmtNum(b.mase)}</td>
              <td class="num">{fmtNum(b.smape)}%</td>
              <td class="num">{b.weight > 0 ? fmtPct(b.weight) : '–'}</td>
            </tr>
          )}
        />
        <dl class="kv">
          {fail.map(([name, s, fmt]) => (
            <>
              <dt>{s !== null ? `P(${name} > ${fmt(s.threshold)})` : `P(${name} over its threshold)`}</dt>
              <dd>
                {s === null ? (
                  '–'
                ) : (
                  <>
                    <Badge tone={s.probability >= 0.5 ? 'bad' : s.probability >= 0.2 ? 'warn' : 'ok'}>
                      {fmtPct(s.probability)}
                    </Badge>{' '}
                    within the horizon
                    {s.firstLikelyAtMs !== null ? `, likely from ${fmtTime(s.firstLikelyAtMs)}` : ''}
                    {/* what a forecast alert judges: the failure under way forecasts itself */}
                    {s.newCrossing === null
                      ? '; over it in too many recent windows to forecast a new crossing'
                      : s.newCrossing.leftOut > 0
                        ? `; a new crossing ${fmtPct(s.newCrossing.probability)}, leaving out the ${s.newCrossing.leftOut} windows over it`
                        : ''}
                  </>
                )}
              </dd>
            </>
          ))}
          {f.notes.length > 0 && (
            <>
              <dt>Notes</dt>
              <dd>{f.notes.join('; ')}</dd>
            </>
          )}
        </dl>
      </div>
    </details>
  )
}
