/** Small shared pieces: badges with a word and a symbol, problem boxes, cards, sparklines. */
import type { ComponentChildren } from 'preact'
import type { ApiError } from '../lib/api.js'

export type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'muted'
const SYMBOL: Record<Tone, string> = { ok: '✓', warn: '!', bad: '✕', info: 'i', muted: '·' }

/** A state badge: colour, a symbol and a word, so colour is never the only signal. */
export function Badge(props: { tone: Tone; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge ${props.tone}`} title={props.title}>
      <span aria-hidden="true">{SYMBOL[props.tone]}</span>
      {props.children}
    </span>
  )
}

/** The server's problem+json, as people read it: message, fix, and each listed problem. */
export function Problem(props: { error: ApiError | Error | null; title?: string }) {
  const e = props.error
  if (e === null) return null
  const api = e as Partial<ApiError>
  return (
    <div class="problem" role="alert">
      <strong>{props.title ?? 'Error'}:</strong> {e.message}
      {api.problems !== undefined && api.problems.length > 0 && (
        <ul>
          {api.problems.map((p) => (
            <li key={p} class="mono">
              {p}
            </li>
          ))}
        </ul>
      )}
      {api.fix !== undefined && api.fix !== '' && <div class="small muted">Fix: {api.fix}</div>}
      {api.code !== undefined && <div class="small muted mono">{api.code}</div>}
    </div>
  )
}

export function Card(props: {
  label: string
  value: ComponentChildren
  sub?: ComponentChildren
  id?: string
}) {
  return (
    <div class="card" id={props.id}>
      <div class="k">{props.label}</div>
      <div class="v">{props.value}</div>
      {props.sub !== undefined && <div class="s">{props.sub}</div>}
    </div>
  )
}

export function Panel(props: {
  title: string
  children: ComponentChildren
  right?: ComponentChildren
  id?: string
}) {
  const id = props.id ?? `p-${props.title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`
  return (
    <section class="panel" aria-labelledby={id}>
      <div class="panel-head">
        <h2 id={id}>{props.title}</h2>
        {props.right}
      </div>
      {props.children}
    </section>
  )
}

/** A tiny SVG line of recent values (no axes); decorative, the number beside it is the data. */
export function Sparkline(props: { values: ReadonlyArray<number | null>; width?: number; height?: number }) {
  const w = props.width ?? 90
  const h = props.height ?? 22
  const vs = props.values.filter((v): v is number => v !== null && Number.isFinite(v))
  if (vs.length < 2) return <svg class="spark" width={w} height={h} aria-hidden="true" />
  const max = Math.max(...vs)
  const min = Math.min(0, ...vs)
  const span = max - min || 1
  const n = props.values.length
  let d = ''
  props.values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) return
    const x = (i / (n - 1)) * (w - 2) + 1
    const y = h - 1 - ((v - min) / span) * (h - 2)
    d += `${d === '' ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`
  })
  return (
    <svg class="spark" width={w} height={h} aria-hidden="true">
      <path d={d} fill="none" stroke="var(--accent)" stroke-width="1.5" />
    </svg>
  )
}

/** A horizontal meter and its percentage; screen readers get the value in words instead. */
export function Meter(props: { value: number; label: string; lowBelow?: number }) {
  const v = Math.max(0, Math.min(1, props.value))
  const pct = `${Math.round(v * 100)}%`
  return (
    <div class="meter-row">
      <div
        class={`meter ${props.lowBelow !== undefined && v < props.lowBelow ? 'low' : ''}`}
        role="meter"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(v * 100)}
        aria-label={props.label}
        title={pct}
      >
        <span style={{ width: `${v * 100}%` }} />
      </div>
      <span class="meter-v" aria-hidden="true">
        {pct}
      </span>
    </div>
  )
}

export function Empty(props: { children: ComponentChildren }) {
  return <div class="empty">{props.children}</div>
}
