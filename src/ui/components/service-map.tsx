/**
 * The service map: nodes {service, env} in layers by call depth (callers left, callees right),
 * edges with their live rate and error ratio. Plain SVG: a few dozen nodes need no graph library.
 * An edge with errors is dashed and labelled as well as coloured, so colour is never the only
 * signal; the table beside the map carries the same numbers for screen readers.
 */
import { fmtCount, fmtMs, fmtNum, fmtPct } from '../lib/format.js'
import type { GraphAnswer } from '../lib/types.js'

type Node = GraphAnswer['nodes'][number]
type Edge = GraphAnswer['edges'][number]

export interface Placed {
  node: Node
  layer: number
  row: number
}

/** Layers by longest call depth from the nodes nobody calls (cycles are cut where found). */
export function layout(nodes: readonly Node[], edges: readonly Edge[]): Placed[] {
  const out = new Map<string, string[]>()
  const indeg = new Map<string, number>(nodes.map((n) => [n.id, 0]))
  for (const e of edges) {
    if (!indeg.has(e.from) || !indeg.has(e.to) || e.from === e.to) continue
    out.set(e.from, [...(out.get(e.from) ?? []), e.to])
    indeg.set(e.to, (indeg.get(e.to) ?? 0) + 1)
  }
  const layer = new Map<string, number>()
  // Kahn's order gives each node its longest depth; nodes left in a cycle go after their callers
  const queue = nodes.filter((n) => indeg.get(n.id) === 0).map((n) => n.id)
  for (const id of queue) layer.set(id, 0)
  const left = new Map(indeg)
  while (queue.length > 0) {
    const id = queue.shift()!
    for (const to of out.get(id) ?? []) {
      layer.set(to, Math.max(layer.get(to) ?? 0, (layer.get(id) ?? 0) + 1))
      left.set(to, left.get(to)! - 1)
      if (left.get(to) === 0) queue.push(to)
    }
  }
  for (const n of nodes) if (!layer.has(n.id)) layer.set(n.id, 1)
  const byLayer = new Map<number, Node[]>()
  for (const n of nodes) byLayer.set(layer.get(n.id)!, [...(byLayer.get(layer.get(n.id)!) ?? []), n])
  const placed: Placed[] = []
  for (const [l, ns] of byLayer) {
    ns.sort((a, b) => a.env.localeCompare(b.env) || a.service.localeCompare(b.service))
    ns.forEach((node, row) => placed.push({ node, layer: l, row }))
  }
  return placed
}

const NW = 190
const NH = 54
const GX = 120
const GY = 26

/** Characters of a node's name and environment that fit its box (12 px bold, 10 px). */
const NAME_CHARS = 22
const ENV_CHARS = 28

/** `text` cut to `max` characters with an ellipsis, so a long name stays inside its box. */
export function fit(text: string, max: number): string {
  const chars = [...text]
  return chars.length <= max ? text : `${chars.slice(0, Math.max(1, max - 1)).join('')}…`
}

/** Error ratio above which an edge or node reads as failing. */
export const BAD_ERROR_RATIO = 0.05
/** Error ratio above which an edge is drawn dotted, in the warning colour. */
export const WARN_ERROR_RATIO = 0.01

/** A box on the map: top-left corner, width and height (px). */
export interface Box {
  x: number
  y: number
  w: number
  h: number
}

type Pt = [number, number]

/** An edge's curve: a cubic Bézier's four control points. */
export type Curve = [Pt, Pt, Pt, Pt]

/** Px per character of a 10 px label, on the wide side so an estimate is never narrower than the text. */
const LABEL_CHAR_PX = 6.4
const LABEL_H = 13
/** Gap kept between a label and a node or another label. */
const LABEL_GAP = 2

function at(c: Curve, t: number): Pt {
  const u = 1 - t
  const k = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t]
  return [0, 1].map((i) => c.reduce((sum, p, j) => sum + k[j] * p[i], 0)) as Pt
}

export function intersects(a: Box, b: Box, gap = 0): boolean {
  return a.x < b.x + b.w + gap && b.x < a.x + a.w + gap && a.y < b.y + b.h + gap && b.y < a.y + a.h + gap
}

/**
 * Where each edge's label goes: centred on a point along its curve, the middle first, then points
 * further along and nudges above and below, until the box overlaps no node and no label placed
 * before it. Edges that leave or reach one node share their ends, so labels at a fixed end (as
 * drawn before) sat on each other; midpoints differ, and the nudges settle what is left. A label
 * with no free place keeps the middle of its edge (its numbers are also in the edge's tooltip and
 * the table beside the map).
 */
export function placeLabels(labels: readonly { curve: Curve; text: string }[], nodes: readonly Box[]): Box[] {
  const placed: Box[] = []
  const steps = [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]
  const nudges = [0, -LABEL_H, LABEL_H, -2 * LABEL_H, 2 * LABEL_H]
  for (const l of labels) {
    const w = [...l.text].length * LABEL_CHAR_PX + 4
    const box = (t: number, dy: number): Box => {
      const [cx, cy] = at(l.curve, t)
      return { x: cx - w / 2, y: cy + dy - LABEL_H / 2, w, h: LABEL_H }
    }
    let chosen: Box | null = null
    for (const dy of nudges) {
      for (const t of steps) {
        const b = box(t, dy)
        if (b.y < 0 || b.x < 0) continue
        if (nodes.some((n) => intersects(b, n, LABEL_GAP)) || placed.some((p) => intersects(b, p, LABEL_GAP)))
          continue
        chosen = b
        break
      }
      if (chosen !== null) break
    }
    placed.push(chosen ?? box(0.5, 0))
  }
  return placed
}

function edgeTitle(e: Edge): string {
  return `${e.from} → ${e.to}: ${fmtNum(e.ratePerSec)} req/s, ${fmtPct(e.errorRatio)} errors`
}

function edgeText(e: Edge): string {
  const bad = e.errorRatio > BAD_ERROR_RATIO
  return `${fmtNum(e.ratePerSec)}/s${e.errorRatio > 0 ? ` · ${bad ? '✕ ' : ''}${fmtPct(e.errorRatio)}` : ''}`
}

export function ServiceMap(props: { graph: GraphAnswer; envColors: Record<string, string> }) {
  const { graph } = props
  const placed = layout(graph.nodes, graph.edges)
  if (placed.length === 0) return null
  const layers = Math.max(...placed.map((p) => p.layer)) + 1
  const rows = Math.max(...placed.map((p) => p.row)) + 1
  const W0 = layers * NW + (layers - 1) * GX + 20
  const H0 = rows * NH + (rows - 1) * GY + 20
  const pos = new Map(
    placed.map((p) => [p.node.id, { x: 10 + p.layer * (NW + GX), y: 10 + p.row * (NH + GY) }]),
  )
  const maxRate = Math.max(1e-9, ...graph.edges.map((e) => e.ratePerSec))
  const drawn = graph.edges.flatMap((e) => {
    const a = pos.get(e.from)
    const b = pos.get(e.to)
    if (a === undefined || b === undefined) return []
    const x1 = a.x + NW
    const y1 = a.y + NH / 2
    const x2 = b.x
    const y2 = b.y + NH / 2
    const mx = (x1 + x2) / 2
    // an edge to a node in the same or an earlier layer loops under the two boxes
    const curve: Curve =
      x2 <= x1
        ? [
            [a.x + NW / 2, a.y + NH],
            [a.x + NW / 2, a.y + NH + 40],
            [b.x + NW / 2, b.y + NH + 40],
            [b.x + NW / 2, b.y + NH],
          ]
        : [
            [x1, y1],
            [mx, y1],
            [mx, y2],
            [x2 - 2, y2],
          ]
    return [{ e, curve, text: edgeText(e) }]
  })
  const boxes = placeLabels(
    drawn,
    placed.map((p) => ({ ...pos.get(p.node.id)!, w: NW, h: NH })),
  )
  const W = Math.max(W0, ...boxes.map((b) => b.x + b.w + 4))
  const H = Math.max(H0, ...boxes.map((b) => b.y + b.h + 4))
  const label = `Service map: ${fmtCount(graph.nodes.length, 'service')}, ${fmtCount(graph.edges.length, 'call')}; ${
    graph.edges
      .filter((e) => e.errorRatio > BAD_ERROR_RATIO)
      .map((e) => `${e.from} to ${e.to} failing ${fmtPct(e.errorRatio)}`)
      .join(', ') || 'no failing call'
  }`
  return (
    <svg class="service-map" viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={label}>
      <defs>
        <marker
          id="arrow"
          viewBox="0 0 10 10"
          refX="9"
          refY="5"
          markerUnits="userSpaceOnUse"
          markerWidth="9"
          markerHeight="9"
          orient="auto"
        >
          <path d="M0,0 L10,5 L0,10 z" fill="var(--muted)" />
        </marker>
      </defs>
      {drawn.map(({ e, curve: [p0, p1, p2, p3] }) => {
        const d = `M${p0[0]},${p0[1]} C${p1[0]},${p1[1]} ${p2[0]},${p2[1]} ${p3[0]},${p3[1]}`
        const bad = e.errorRatio > BAD_ERROR_RATIO
        const some = e.errorRatio > WARN_ERROR_RATIO
        const w = 1.5 + 4 * Math.sqrt(e.ratePerSec / maxRate)
        return (
          <g key={e.id} class="edge">
            <path
              d={d}
              fill="none"
              stroke={bad ? 'var(--bad)' : some ? 'var(--warn)' : 'var(--muted)'}
              stroke-width={w}
              stroke-dasharray={bad ? '6 4' : some ? '3 3' : undefined}
              marker-end="url(#arrow)"
              opacity="0.8"
            >
              <title>{edgeTitle(e)}</title>
            </path>
          </g>
        )
      })}
      {/* every label after every line: an edge drawn later would cross out an earlier edge's label */}
      {drawn.map(({ e, text }, i) => {
        const box = boxes[i]
        // a backing as large as the label: a halo round the glyphs alone lets a wide edge show
        // between them and cross the figures out
        return (
          <g key={e.id}>
            <rect
              x={box.x}
              y={box.y}
              width={box.w}
              height={box.h}
              rx="3"
              fill="var(--panel)"
              opacity="0.85"
            />
            <text
              class="edge-label"
              x={box.x + box.w / 2}
              y={box.y + box.h / 2}
              text-anchor="middle"
              dominant-baseline="central"
              font-size="10"
              fill={e.errorRatio > BAD_ERROR_RATIO ? 'var(--bad)' : 'var(--muted)'}
              paint-order="stroke"
              stroke="var(--panel)"
              stroke-width="3"
            >
              <title>{edgeTitle(e)}</title>
              {text}
            </text>
          </g>
        )
      })}
      {placed.map(({ node: n }) => {
        const p = pos.get(n.id)!
        const bad = n.errorRatio > BAD_ERROR_RATIO
        const color = props.envColors[n.env] ?? 'var(--accent)'
        return (
          <g key={n.id} class="node" transform={`translate(${p.x},${p.y})`}>
            <title>
              {n.service} · {n.env}
            </title>
            <rect
              width={NW}
              height={NH}
              rx="6"
              fill="var(--panel)"
              stroke={bad ? 'var(--bad)' : color}
              stroke-width={bad ? 3 : 1.5}
            />
            <rect width="6" height={NH} rx="3" fill={color} />
            <text x="14" y="17" font-size="12" font-weight="600" fill="var(--text)">
              {bad ? '✕ ' : ''}
              {fit(n.service, bad ? NAME_CHARS - 2 : NAME_CHARS)}
            </text>
            <text x="14" y="31" font-size="10" fill="var(--muted)">
              {fit(n.env, ENV_CHARS)}
            </text>
            <text x="14" y="46" font-size="10" fill="var(--text)">
              {fmtNum(n.ratePerSec)}/s · {fmtPct(n.errorRatio)} err
              {n.p95 !== null ? ` · p95 ${fmtMs(n.p95)}` : ''}
            </text>
          </g>
        )
      })}
    </svg>
  )
}
