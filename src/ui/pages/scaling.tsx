/**
 * Autoscaling: per scaled service, replicas over time against the observed load, the forecast the
 * policy reads and the capacity the replicas give; the scaling events with their evidence; the
 * replicas running now. Manual scale and restart live on the Admin page (`ScaleControls`).
 */
import { useState } from 'preact/hooks'
import type { LiveSeries } from '../../api/live-sections.js'
import type { Session } from '../app.js'
import { bandLabel, drawnBand } from '../components/band.js'
import { Chart, FORECAST_OFF, gapSeconds } from '../components/chart.js'
import { forecastNotYet } from '../components/legend.js'
import { positive, Result, useAction } from '../components/forms.js'
import { prose, Table } from '../components/table.js'
import { Badge, Card, Empty, Panel, Problem, type Tone } from '../components/ui.js'
import { api, keyPath } from '../lib/api.js'
import { fmtSince, fmtNum, fmtRate, fmtTime, fmtWhen, localTimes } from '../lib/format.js'
import { useHistory, useSeriesKnown } from '../lib/history.js'
import { useApi, useLive, useNow } from '../lib/hooks.js'
import type { ActionRecord, ForecastAnswer, ServiceScaling } from '../lib/types.js'
import { inFlightText } from './in-flight.js'
import { lastChange, plainEvidence, replicasSub, scaleEventWords } from './scale-evidence.js'

const RANGE_MS = 15 * 60_000

/** A scale action of the action log (kind scale.replicas, scale.manual or scale.restart). */
export type ScaleAction = ActionRecord

interface ScaleEvidence {
  observed?: number
  reactiveNeed?: number
  predictiveNeed?: number | null
  forecast?: number | null
  upper?: number | null
  model?: string | null
  level?: number | null
  windowNeed?: number
  headroomShare?: number | null
}

export function resultTone(status: string): Tone {
  return status === 'ok' ? 'ok' : status === 'failed' ? 'bad' : status === 'pending' ? 'warn' : 'muted'
}

/** Replicas in force at each time in `ts` (ms), from the scale actions (newest first) and the count now. */
export function replicasAt(
  ts: readonly number[],
  actions: readonly ScaleAction[],
  current: number,
): number[] {
  const steps = actions
    .filter((a) => typeof a.after === 'number' && a.result.status !== 'failed')
    .map((a) => ({ atMs: a.atMs, before: a.before as number, after: a.after as number }))
    .sort((a, b) => a.atMs - b.atMs)
  return ts.map((t) => {
    let n = steps.length > 0 && typeof steps[0].before === 'number' ? steps[0].before : current
    for (const s of steps) if (s.atMs <= t) n = s.after
    return n
  })
}

export function ScalingPage(props: { session: Session }) {
  const got = useApi<{ services: ServiceScaling[] }>('/api/scaling', 3000)
  const services = got.data?.services ?? []
  return (
    <>
      <Problem error={got.error} title="Autoscaling unavailable" />
      {got.data !== null && services.length === 0 && (
        <Panel title="Autoscaling">
          <Empty>No service has a scale block (services.&lt;name&gt;.scale in the config).</Empty>
        </Panel>
      )}
      {services.map((s) => (
        <ServiceScalingView key={s.service} session={props.session} s={s} />
      ))}
    </>
  )
}

function ServiceScalingView(props: { session: Session; s: ServiceScaling }) {
  const { s, session } = props
  const now = useNow(5_000)
  const key = `${s.service}|*|${session.env}`
  const live = useLive()
    .items<LiveSeries>('series')
    .find((x) => x.key === key)
  const known = useSeriesKnown(key, live, session.windowMs)
  const { points, error } = useHistory(known ? key : null, RANGE_MS)
  const forecasting = session.features.includes('forecasts')
  const forecast = useApi<ForecastAnswer>(
    known && forecasting ? `/api/series/${keyPath(key)}/forecast` : null,
    10_000,
  )
  const actions = useApi<{ actions: ScaleAction[] }>(
    `/api/actions?target=${encodeURIComponent(`service:${s.service}`)}&limit=100`,
    3000,
  )
  const acts = (actions.data?.actions ?? []).filter((a) => a.kind.startsWith('scale.'))
  const shown = points.filter((p) => p.t >= now - RANGE_MS)
  const f = forecast.data?.status === 'ok' ? forecast.data : null
  const notYet = forecastNotYet(forecast.data)
  const band = drawnBand(
    f === null ? [] : f.points.filter((p) => p.atMs > (shown.at(-1)?.t ?? now)),
    shown.map((p) => p.rate),
  )
  const fc = band.points
  const ts = [...shown.map((p) => p.t), ...fc.map((p) => p.atMs)]
  const reps = replicasAt(ts, acts, s.current).map((n, i) => (ts[i] > now ? (s.desired ?? s.current) : n))
  const cap = s.capacityPerReplica
  const nObs = shown.length
  const ready = s.replicas.filter((r) => r.ready).length
  const last = lastChange(acts)
  const acting = inFlightText(s, now)
  return (
    <>
      <h2 style={{ fontSize: '17px', margin: '0 0 10px' }}>
        {s.service}{' '}
        <Badge tone={s.mode === 'enforce' ? 'info' : 'muted'} title={MODE_TITLE[s.mode]}>
          mode: {s.mode}
        </Badge>
      </h2>
      <div class="grid cards" style={{ marginBottom: '14px' }}>
        <Card label="Replicas" value={s.current} id={`scale-${s.service}-replicas`} sub={replicasSub(s)} />
        <Card
          label="Bounds"
          value={`${s.min} – ${s.max}`}
          sub={`actuator ${s.actuator ?? 'none (shadow)'}`}
        />
        <Card
          label="Capacity"
          value={cap !== null ? fmtRate(cap * s.current) : '–'}
          sub={
            cap === null
              ? 'no capacityPerReplica: no policy'
              : `${fmtNum(cap)} req/s per replica${
                  s.capacity?.learned === true
                    ? ` · learned (${s.capacity.windows ?? 0} windows)`
                    : s.capacity !== null && s.capacity.source !== 'configured'
                      ? ' · initial (learning)'
                      : ''
                }`
          }
        />
        <Card
          label="Last change"
          value={last !== undefined ? `${String(last.before)} → ${String(last.after)}` : '–'}
          sub={last !== undefined ? `${fmtSince(last.atMs, now)} · ${last.result.status}` : 'none yet'}
        />
      </div>
      {s.lastError !== null && <Problem error={new Error(s.lastError)} title="The actuator failed" />}
      {acting !== null && (
        <p class="notice warn" role="status" id={`scale-${s.service}-in-flight`}>
          <Badge tone="warn">in flight</Badge> {acting}
        </p>
      )}
      <Problem error={error} title="History unavailable" />
      <Panel title={`Replicas, load and capacity: ${s.service}`}>
        {nObs < 2 ? (
          <Empty>Waiting for a few windows of traffic on {s.service}…</Empty>
        ) : (
          <Chart
            title="Requests per second (left) and replicas (right)"
            x={ts.map((t) => t / 1000)}
            ys={[
              [...shown.map((p) => p.rate), ...fc.map(() => null)],
              ...(forecasting
                ? [
                    [...shown.map(() => null), ...fc.map((p) => p.forecast)],
                    [...shown.map(() => null), ...fc.map((p) => p.upper)],
                    [...shown.map(() => null), ...fc.map((p) => p.lower)],
                  ]
                : []),
              reps.map((n) => (cap !== null ? n * cap : null)),
              reps,
            ]}
            series={[
              { label: 'observed', color: '--series-1' },
              ...(forecasting
                ? [
                    { label: 'forecast', color: '--forecast', dash: [6, 4], missing: notYet },
                    { label: 'upper', color: '--forecast', hidden: true },
                    { label: 'lower', color: '--forecast', hidden: true },
                  ]
                : []),
              { label: 'capacity', color: '--series-4', dash: [2, 3], width: 2 },
              { label: 'replicas', color: '--series-2', scale: 'y2', width: 2 },
            ]}
            bands={
              fc.length > 0
                ? [{ upper: 2, lower: 3, fill: '--forecast-band', label: bandLabel(f?.level, band.clipped) }]
                : []
            }
            now={now / 1000}
            height={240}
            yMin={0}
            y2Format={(v) => fmtNum(v)}
            y2Integer
            gapS={gapSeconds(session.windowMs)}
            extra={!forecasting && <span class="small muted">{FORECAST_OFF}</span>}
            summary={`${s.service}: ${s.current} replicas (${ready} ready), observed ${fmtRate(shown.at(-1)?.rate)}, capacity ${cap !== null ? fmtRate(cap * s.current) : 'unknown'}; ${!forecasting ? FORECAST_OFF : f !== null && fc.length > 0 ? `forecast ${fmtRate(fc.at(-1)?.forecast)} by ${fmtTime(fc.at(-1)?.atMs)} (${f.model})` : notYet}`}
          />
        )}
      </Panel>
      <Panel title={`Scaling events: ${s.service}`}>
        <Problem error={actions.error} title="Action log unavailable" />
        <ScaleEvents actions={acts} now={now} />
      </Panel>
      <Panel title={`Running replicas: ${s.service}`}>
        <Table
          label={`Replicas of ${s.service}`}
          columns={['Replica', 'Address', 'State', 'Started']}
          rows={s.replicas}
          empty="No replica reported by the actuator."
          row={(r) => (
            <tr key={r.id}>
              <td class="mono small">{r.id}</td>
              <td class="mono small">{r.url ?? '(platform routed)'}</td>
              <td>{r.ready ? <Badge tone="ok">ready</Badge> : <Badge tone="warn">starting</Badge>}</td>
              <td>{fmtSince(r.startedAtMs, now)}</td>
            </tr>
          )}
        />
      </Panel>
    </>
  )
}

/** What the `scale.mode` word means, on hover: a newcomer reads "enforce" alone as a verb. */
const MODE_TITLE: Record<string, string> = {
  enforce: 'The autoscaler changes the replicas through the actuator (scale.mode: enforce)',
  shadow: 'The autoscaler records what it would do and changes nothing (scale.mode: shadow)',
}

function ScaleEvents(props: { actions: ScaleAction[]; now: number }) {
  return (
    <Table
      label="Scaling events"
      columns={['When', 'What', 'Replicas', 'Result', prose('Why'), prose('Evidence')]}
      rows={props.actions.slice(0, 30)}
      empty="No scaling action yet."
      row={(a) => {
        const ev = (a.evidence ?? {}) as ScaleEvidence
        const w = scaleEventWords(a)
        return (
          <tr key={a.id}>
            <td class="when" title={new Date(a.atMs).toISOString()}>
              {fmtWhen(a.atMs)}
            </td>
            <td>
              {w.what}
              {a.mode === 'shadow' && <span class="small muted"> (shadow)</span>}
            </td>
            <td>
              {w.arrow !== '' && <span aria-hidden="true">{w.arrow}</span>}
              {w.move}
            </td>
            <td>
              <Badge tone={w.alarm ? 'bad' : resultTone(w.result)} title={a.result.detail}>
                {w.result}
              </Badge>
            </td>
            <td class="small">{localTimes(a.reason)}</td>
            <td class="small">
              {ev.observed !== undefined ? (
                <>
                  observed {fmtRate(ev.observed)} → needs {ev.reactiveNeed ?? '–'}
                  {ev.predictiveNeed !== null && ev.predictiveNeed !== undefined && (
                    <>
                      ; forecast {fmtRate(ev.forecast)}{' '}
                      {(ev.level ?? 0) > 0 && (ev.upper ?? 0) > (ev.forecast ?? 0)
                        ? `(upper ${fmtRate(ev.upper)}, ${ev.model}, ${ev.level}%)`
                        : // a rule that projects one value (momentum) has no interval to show
                          `(${ev.model})`}{' '}
                      → needs {ev.predictiveNeed}
                    </>
                  )}
                  {ev.headroomShare !== null && ev.headroomShare !== undefined && (
                    <span class="muted"> · headroom {Math.round(ev.headroomShare * 100)}%</span>
                  )}
                </>
              ) : (
                <span class="muted">{plainEvidence(a.evidence) ?? '–'}</span>
              )}
            </td>
          </tr>
        )
      }}
    />
  )
}

/** Manual scale and rolling restart (Admin page): both through the actuator, both audited. */
export function ScaleControls() {
  const got = useApi<{ services: ServiceScaling[] }>('/api/scaling', 5000)
  const services = got.data?.services ?? []
  const [service, setService] = useState('')
  const [replicas, setReplicas] = useState('')
  const [reason, setReason] = useState('')
  const [invalid, setInvalid] = useState<Record<string, string>>({})
  const a = useAction()
  const svc = services.find((s) => s.service === service) ?? services[0]
  const check = (needReplicas: boolean): number | null => {
    const bad: Record<string, string> = {}
    let n: number | null = null
    if (needReplicas) {
      const r = positive(replicas, 'replicas', { integer: true, min: 0 })
      if (typeof r === 'string') bad.replicas = r
      else if (svc !== undefined && (r < svc.min || r > svc.max))
        bad.replicas = `replicas: ${svc.service} takes ${svc.min} to ${svc.max}`
      else n = r
    }
    if (reason.trim() === '') bad.reason = 'reason: say why (it goes to the action log)'
    setInvalid(bad)
    if (Object.keys(bad).length > 0) {
      a.fail(Object.values(bad).join('; '))
      return null
    }
    return n ?? 0
  }
  const scale = (e: Event) => {
    e.preventDefault()
    if (svc === undefined) return
    const n = check(true)
    if (n === null) return
    void a.run(async () => {
      const r = await api<{ status: string; detail?: string }>(
        `/api/services/${encodeURIComponent(svc.service)}/scale`,
        { method: 'POST', body: { replicas: n, reason: reason.trim() } },
      )
      got.reload()
      setReason('')
      return `${svc.service}: scaled to ${n} (${r.status}).`
    }, `Scaling ${svc.service} to ${n}: starting or stopping replicas…`)
  }
  const restart = () => {
    if (svc === undefined || check(false) === null) return
    void a.run(async () => {
      await api(`/api/services/${encodeURIComponent(svc.service)}/restart`, {
        method: 'POST',
        body: { reason: reason.trim() },
      })
      got.reload()
      setReason('')
      return `${svc.service}: restarted, one replica at a time.`
    }, `Restarting ${svc.service}: one replica at a time, each replacement ready before the next…`)
  }
  return (
    <Panel title="Scale and restart">
      <Problem error={got.error} title="Autoscaling unavailable" />
      {svc === undefined ? (
        <Empty>No service has a scale block.</Empty>
      ) : (
        <form class="row" onSubmit={scale} noValidate aria-label="Scale or restart a service">
          <label>
            Service
            <select
              id="scale-service"
              value={svc.service}
              onChange={(e) => setService((e.target as HTMLSelectElement).value)}
            >
              {services.map((s) => (
                <option key={s.service} value={s.service}>
                  {s.service} ({s.current} now, {s.min}–{s.max})
                </option>
              ))}
            </select>
          </label>
          <label>
            Replicas
            <input
              id="scale-replicas"
              inputMode="numeric"
              size={4}
              value={replicas}
              aria-invalid={invalid.replicas !== undefined}
              onInput={(e) => setReplicas((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            Reason
            <input
              id="scale-reason"
              size={32}
              value={reason}
              aria-invalid={invalid.reason !== undefined}
              onInput={(e) => setReason((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit" class="primary" disabled={a.busy}>
            Scale
          </button>
          <button type="button" disabled={a.busy} onClick={restart}>
            Rolling restart
          </button>
        </form>
      )}
      <p class="small muted">
        The autoscaler (mode enforce) may change the count again at its next window; a manual scale is
        recorded in the action log as scale.manual.
      </p>
      <Result a={a} title="Not done" />
    </Panel>
  )
}
