/**
 * A time-series chart on uPlot (a canvas, ~50 KB): lines, dashed forecasts, shaded bands between
 * two series, scatter series, shaded spans for anomalies and a "now" line. The legend is HTML
 * (shape and dash as well as colour), and the chart carries a text summary for screen readers.
 */
import type { ComponentChildren } from 'preact'
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'
import { cssVar, useTheme } from '../lib/theme.js'
import { fmtTime } from '../lib/format.js'
import type { ForecastReady } from '../lib/types.js'
import { layoutMarkLabels, markPositions, withLabelRoom } from './mark-labels.js'
import { bandLabel, drawnBand } from './band.js'
import { legendEntries } from './legend.js'

export interface ChartSeries {
  label: string
  /** a CSS variable name (`--series-1`) or a colour */
  color: string
  dash?: number[]
  width?: number
  /** draw points only (a scatter) */
  scatter?: boolean
  /** not drawn and not in the legend: one edge of a band */
  hidden?: boolean
  /**
   * the legend's words while the series has no point (`forecast: not yet, needs 3 more minutes of
   * data`); without them such a series is left out of the legend, which lists only what is drawn
   */
  missing?: string
  /** the y scale: `y` (default) or `y2` (right axis) */
  scale?: 'y' | 'y2'
}

export interface ChartBand {
  /** indices into `series` of the upper and lower edges */
  upper: number
  lower: number
  /** a CSS variable name or a colour */
  fill: string
  label: string
}

export interface ChartMark {
  /** seconds */
  from: number
  to: number
  label: string
  /** the anomaly's metric (`p95`, `errors`): pages pick the marks each chart shows by it */
  metric?: string
}

export interface ChartProps {
  title: string
  /** x values in seconds since the epoch */
  x: readonly number[]
  ys: ReadonlyArray<ReadonlyArray<number | null>>
  series: readonly ChartSeries[]
  bands?: readonly ChartBand[]
  marks?: readonly ChartMark[]
  /** seconds; a vertical line */
  now?: number
  height?: number
  yFormat?: (v: number) => string
  y2Format?: (v: number) => string
  /** the right axis counts whole things (replicas): ticks only at integers, from 0 */
  y2Integer?: boolean
  yMin?: number
  yMax?: number
  /** seconds between points: a longer pause (Vigil was stopped) is drawn as a gap, not a line */
  gapS?: number
  /** what the chart shows, in words (screen readers) */
  summary: string
  /** extra heading content (model name, badges) */
  extra?: ComponentChildren
}

/**
 * The pause after which a line breaks: ten windows, at least a minute. A window without requests
 * has no point at all, so shorter holes are quiet moments of a sparse route, not Vigil being away.
 */
export function gapSeconds(windowMs: number): number {
  return Math.max(60, (10 * windowMs) / 1000)
}

export interface ForecastTraces extends Pick<ChartProps, 'x' | 'ys' | 'series' | 'bands'> {
  /** the forecast's points after the newest observed window */
  ahead: ForecastReady['points']
}

/** What a chart says where its forecast would be while the config turns forecasting off. */
export const FORECAST_OFF = 'forecasting is off'

/**
 * A rate chart's lines: what was observed, then the forecast with its interval as a band. The
 * forecast line starts at the newest observed point, so the two read as one line into the future.
 * With forecasting off (`'off'`) the observed line alone, with no forecast in the legend; `null`
 * is a forecast still to come, named in the legend by its `missing` words.
 */
export function forecastTraces(
  observed: ReadonlyArray<{ t: number; rate: number }>,
  forecast: ForecastReady | null | 'off',
  label = 'forecast',
  missing?: string,
): ForecastTraces {
  const x = observed.map((p) => p.t / 1000)
  const rates = observed.map((p) => p.rate)
  if (forecast === 'off')
    return { ahead: [], x, ys: [rates], series: [{ label: 'observed', color: '--series-1' }], bands: [] }
  const last = observed.at(-1)
  const band = drawnBand(
    forecast === null ? [] : forecast.points.filter((p) => p.atMs > (last?.t ?? 0)),
    rates,
  )
  const ahead = band.points
  const join = last !== undefined && ahead.length > 0 ? [last.rate] : []
  const pad = (a: readonly number[], before: number, after: number): (number | null)[] => [
    ...Array<null>(before).fill(null),
    ...a,
    ...Array<null>(after).fill(null),
  ]
  return {
    ahead,
    x: [...x, ...ahead.map((p) => p.atMs / 1000)],
    ys: [
      pad(rates, 0, ahead.length),
      pad([...join, ...ahead.map((p) => p.forecast)], x.length - join.length, 0),
      pad(
        ahead.map((p) => p.upper),
        x.length,
        0,
      ),
      pad(
        ahead.map((p) => p.lower),
        x.length,
        0,
      ),
    ],
    series: [
      { label: 'observed', color: '--series-1' },
      { label, color: '--forecast', dash: [6, 4], missing },
      { label: 'upper', color: '--forecast', hidden: true },
      { label: 'lower', color: '--forecast', hidden: true },
    ],
    bands:
      ahead.length > 0
        ? [{ upper: 2, lower: 3, fill: '--forecast-band', label: bandLabel(forecast?.level, band.clipped) }]
        : [],
  }
}

/**
 * A percentage axis's tick: none above 100 %. Anomaly labels raise the top of the range to keep
 * the data below them, and an error ratio of "150%" would read as a value, not room.
 */
export const pctTick = (v: number): string => (v > 100 ? '' : `${v}%`)

const color = (c: string) => (c.startsWith('--') ? cssVar(c) : c)

const LABEL_FONT = '11px system-ui, sans-serif'
const LABEL_ROW_PX = 14
/** the labels start below the ▼ (2 px + 7 px tall) */
const LABEL_TOP_PX = 10

const INTEGER_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000]

/**
 * The time axis's tick steps (s): uPlot's, with 2 minutes added. With 70 px per label a
 * half-width chart of ten minutes went from 1-minute ticks straight to 5-minute ones, one label.
 */
const X_INCRS = [
  1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 28800, 43200, 86400,
  172800, 604800, 2592000, 31536000,
]

/**
 * The time axis's labels: uPlot's own table, except that on charts ticked in seconds or minutes
 * the first tick carries no date. uPlot puts the whole date there ("12/6/26 11:34am"): on charts
 * ticked in seconds it was wider than a tick and ran into the next label, on charts ticked in
 * minutes it dated some charts of a page and not others. These charts span minutes of today, and
 * a new day still gets its date. Columns: tick step (s), default label, then the label on a change
 * of year, month, day, hour, minute, second; the last 1 puts the default label first.
 */
const NL_HMM = '\n{h}:{mm}{aa}'
const X_STAMPS: uPlot.Axis.TimeValuesConfig = [
  [3600 * 24 * 365, '{YYYY}', null, null, null, null, null, null, 1],
  [3600 * 24 * 28, '{MMM}', '\n{YYYY}', null, null, null, null, null, 1],
  [3600 * 24, '{M}/{D}', '\n{YYYY}', null, null, null, null, null, 1],
  [3600, '{h}{aa}', '\n{M}/{D}/{YY}', null, '\n{M}/{D}', null, null, null, 1],
  [60, '{h}:{mm}{aa}', '', null, '\n{M}/{D}', null, null, null, 1],
  [1, ':{ss}', NL_HMM, null, '\n{M}/{D} {h}:{mm}{aa}', null, NL_HMM, null, 1],
  [0.001, ':{ss}.{fff}', NL_HMM, null, '\n{M}/{D} {h}:{mm}{aa}', null, NL_HMM, null, 1],
]

export function Chart(props: ChartProps) {
  const host = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const theme = useTheme()
  const marks = useRef(props.marks ?? [])
  const nowRef = useRef(props.now)
  marks.current = props.marks ?? []
  nowRef.current = props.now
  // a chart is rebuilt when its shape or the theme changes; new data only calls setData
  const shape = JSON.stringify([
    props.series,
    props.bands,
    props.height,
    props.yMin,
    props.yMax,
    props.y2Integer,
    theme,
  ])

  useEffect(() => {
    const el = host.current
    if (el === null) return
    const grid = cssVar('--border')
    const text = cssVar('--muted')
    const axis = (
      fmt?: (v: number) => string,
      side?: 0 | 1 | 2 | 3,
      scale?: string,
      integer = false,
    ): uPlot.Axis => ({
      stroke: text,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
      ...(side !== undefined ? { side } : {}),
      ...(scale !== undefined ? { scale } : {}),
      // uPlot picks the tick spacing from these steps; whole ones only, so no "2.5 replicas"
      ...(integer ? { incrs: INTEGER_STEPS } : {}),
      ...(fmt !== undefined
        ? { values: (_u: uPlot, vals: number[]) => vals.map((v) => (v == null ? '' : fmt(v))) }
        : {}),
      size: 64,
    })
    const hasY2 = props.series.some((s) => s.scale === 'y2')
    // the anomaly labels take the top rows of the plot: the data's top goes below them
    const labelRoom = (u: uPlot, lo: number, hi: number) => {
      const n = marks.current.length
      if (n === 0) return hi
      const plotPx = u.bbox.height > 0 ? u.bbox.height / devicePixelRatio : (props.height ?? 200) - 50
      return withLabelRoom(lo, hi, plotPx, LABEL_TOP_PX + Math.min(2, n) * LABEL_ROW_PX)
    }
    const opts: uPlot.Options = {
      width: el.clientWidth || 600,
      height: props.height ?? 200,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        x: { time: true },
        y: {
          auto: true,
          range: (u, min, max) => {
            const lo = props.yMin ?? Math.min(0, min)
            if (props.yMax !== undefined) return [lo, props.yMax]
            return [lo, labelRoom(u, lo, max > lo ? max * 1.08 : lo + 1)]
          },
        },
        ...(hasY2
          ? {
              y2: props.y2Integer
                ? {
                    auto: true,
                    range: (u, _min, max) => [0, Math.max(1, Math.ceil(labelRoom(u, 0, max * 1.08)))],
                  }
                : {
                    auto: true,
                    range: (u, min, max) => {
                      const lo = Math.min(0, min)
                      return [lo, labelRoom(u, lo, max > lo ? max * 1.08 : lo + 1)]
                    },
                  },
            }
          : {}),
      },
      axes: [
        {
          stroke: text,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          values: X_STAMPS,
          incrs: X_INCRS,
          // uPlot's 50 px fits "11:35am" with no gap: the labels ran together on a half-width chart
          space: 70,
        },
        axis(props.yFormat),
        ...(hasY2 ? [axis(props.y2Format, 1, 'y2', props.y2Integer === true)] : []),
      ],
      series: [
        {},
        ...props.series.map((s): uPlot.Series => ({
          label: s.label,
          stroke: s.hidden ? 'transparent' : color(s.color),
          width: s.hidden ? 0 : (s.width ?? 1.6),
          scale: s.scale ?? 'y',
          spanGaps: false,
          ...(s.dash !== undefined ? { dash: s.dash } : {}),
          ...(s.scatter
            ? {
                paths: () => null,
                points: { show: true, size: 6, fill: color(s.color), stroke: color(s.color) },
              }
            : { points: { show: false } }),
        })),
      ],
      bands: (props.bands ?? []).map((b) => ({ series: [b.upper + 1, b.lower + 1], fill: color(b.fill) })),
      hooks: {
        drawClear: [
          (u) => {
            const ctx = u.ctx
            const { top, height } = u.bbox
            ctx.save()
            ctx.fillStyle = cssVar('--anomaly')
            for (const m of marks.current) {
              const x0 = u.valToPos(m.from, 'x', true)
              const x1 = Math.max(x0 + 3, u.valToPos(m.to, 'x', true))
              const l = Math.max(u.bbox.left, x0)
              const r = Math.min(u.bbox.left + u.bbox.width, x1)
              if (r > l) ctx.fillRect(l, top, r - l, height)
            }
            ctx.restore()
          },
        ],
        draw: [
          (u) => {
            const ctx = u.ctx
            ctx.save()
            const now = nowRef.current
            if (now !== undefined) {
              const x = u.valToPos(now, 'x', true)
              if (x >= u.bbox.left && x <= u.bbox.left + u.bbox.width) {
                ctx.strokeStyle = cssVar('--muted')
                ctx.setLineDash([3, 3])
                ctx.beginPath()
                ctx.moveTo(x, u.bbox.top)
                ctx.lineTo(x, u.bbox.top + u.bbox.height)
                ctx.stroke()
              }
            }
            // anomaly marks: a triangle at the top of each span; the labels are HTML (placeLabels)
            ctx.setLineDash([])
            ctx.fillStyle = cssVar('--bad')
            for (const m of markPositions(
              marks.current,
              (t) => u.valToPos(t, 'x'),
              u.bbox.width / devicePixelRatio,
            )) {
              const x = u.bbox.left + m.x * devicePixelRatio
              const y = u.bbox.top + 2
              const s = 5 * devicePixelRatio
              ctx.beginPath()
              ctx.moveTo(x - s, y)
              ctx.lineTo(x + s, y)
              ctx.lineTo(x, y + s * 1.4)
              ctx.closePath()
              ctx.fill()
            }
            ctx.restore()
            placeLabels(u, marks.current)
          },
        ],
      },
    }
    const u = new uPlot(opts, toData(props.x, props.ys, props.gapS), el)
    plot.current = u
    drawn.current = signature(props.x, props.ys, props.marks, props.now)
    const ro = new ResizeObserver(() => {
      const w = el.clientWidth
      if (w > 0 && w !== u.width) u.setSize({ width: w, height: props.height ?? 200 })
    })
    ro.observe(el)
    return () => {
      ro.disconnect()
      u.destroy()
      plot.current = null
    }
    // the shape key covers every option above
  }, [shape])

  // pages re-render on every live event; redraw only when the data (or the marks) changed
  const drawn = useRef('')
  useEffect(() => {
    const sig = signature(props.x, props.ys, props.marks, props.now)
    if (plot.current === null || sig === drawn.current) return
    drawn.current = sig
    plot.current.setData(toData(props.x, props.ys, props.gapS))
  })

  const legend = legendEntries(props.series, props.ys)
  return (
    <figure class="chart-fig" style={{ margin: 0 }}>
      <figcaption class="chart-title">
        <h3>{props.title}</h3>
        <span class="legend" aria-hidden="true">
          {legend.map(({ series: s, ...e }) =>
            e.drawn ? (
              <span key={s.label}>
                <i
                  class={s.dash ? 'dash' : ''}
                  style={{
                    background: s.dash ? undefined : color(s.color),
                    color: color(s.color),
                    height: s.scatter ? '7px' : undefined,
                    width: s.scatter ? '7px' : undefined,
                    borderRadius: s.scatter ? '50%' : undefined,
                  }}
                />
                {s.label}
              </span>
            ) : (
              <span key={s.label} class="legend-missing">
                {e.text}
              </span>
            ),
          )}
          {(props.bands ?? []).map((b) => (
            <span key={b.label}>
              <i class="area" style={{ background: color(b.fill) }} />
              {b.label}
            </span>
          ))}
          {(props.marks ?? []).length > 0 && (
            <span>
              <i class="area" style={{ background: cssVar('--anomaly') }} />
              anomaly (▼ label)
            </span>
          )}
        </span>
        {props.extra}
      </figcaption>
      <div class="chart" ref={host} role="img" aria-label={`${props.title}: ${props.summary}`} />
    </figure>
  )
}

/**
 * The anomaly labels as elements over the plot, laid out so none overlaps another: a group of
 * close anomalies reads "N anomalies" and lists them on hover (its title).
 */
function placeLabels(u: uPlot, marks: readonly ChartMark[]): void {
  let box = u.over.querySelector<HTMLDivElement>(':scope > .mark-labels')
  if (box === null) {
    box = document.createElement('div')
    box.className = 'mark-labels'
    u.over.appendChild(box)
  }
  const width = u.over.clientWidth
  const visible = markPositions(marks, (t) => u.valToPos(t, 'x'), width)
  const ctx = u.ctx
  ctx.save()
  ctx.font = LABEL_FONT
  const labels = layoutMarkLabels(visible, {
    width,
    measure: (t) => Math.ceil(ctx.measureText(t).width) + 4,
  })
  ctx.restore()
  box.replaceChildren(
    ...labels.map((l) => {
      const el = document.createElement('span')
      el.className = l.members.length > 1 ? 'mark-label group' : 'mark-label'
      el.textContent = l.text
      el.style.left = `${l.left}px`
      el.style.top = `${LABEL_TOP_PX + l.row * LABEL_ROW_PX}px`
      el.style.width = `${l.width}px`
      el.title = l.members
        .map((i) => marks[visible[i].index])
        .map((m) => `${m.label}: ${fmtTime(m.from * 1000)} – ${fmtTime(m.to * 1000)}`)
        .join('\n')
      return el
    }),
  )
}

/** Cheap identity of what a chart shows: lengths, ends and a sample of values. */
function signature(
  x: readonly number[],
  ys: ReadonlyArray<ReadonlyArray<number | null>>,
  marks: readonly ChartMark[] | undefined,
  now: number | undefined,
): string {
  const n = x.length
  let sig = `${n}:${x[0]}:${x[n - 1]}:${marks?.length ?? 0}:${marks?.at(-1)?.to}:${now === undefined ? '' : Math.floor(now / 5)}`
  for (const y of ys) sig += `|${y.length}:${y[0]}:${y[y.length - 1]}:${y[y.length >> 1]}`
  return sig
}

function toData(
  x: readonly number[],
  ys: ReadonlyArray<ReadonlyArray<number | null>>,
  gapS?: number,
): uPlot.AlignedData {
  if (gapS === undefined || x.length < 2)
    return [x as number[], ...(ys as (number | null)[][])] as uPlot.AlignedData
  const gx: number[] = []
  const gys: (number | null)[][] = ys.map(() => [])
  for (let i = 0; i < x.length; i++) {
    if (i > 0 && x[i] - x[i - 1] > 1.5 * gapS) {
      gx.push(x[i - 1] + gapS)
      for (const g of gys) g.push(null)
    }
    gx.push(x[i])
    ys.forEach((y, j) => gys[j].push(y[i] ?? null))
  }
  return [gx, ...gys] as uPlot.AlignedData
}
