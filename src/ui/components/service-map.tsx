/**
 * The service map: nodes {service, env} in layers by call depth (callers left, callees right),
 * edges with their live rate and error ratio. Plain SVG: a few dozen nodes need no graph library.
 * An edge with errors is dashed and labelled as well as coloured, so colour is never the only
 * signal; the table beside the map carries the same numbers for screen readers.
 */
import { fmtCount, fmtNum, fmtPct } from '../lib/format.js'
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

export function ServiceMap(props: { graph: GraphAnswer; envColors: Record<string, string> }) {
  const { graph } = props
  const placed = layout(graph.nodes, graph.edges)
  if (placed.length === 0) return null
  const layers = Math.max(...placed.map((p) => p.layer)) + 1
  const rows = Math.max(...placed.map((p) => p.row)) + 1
  const W = layers * NW + (layers - 1) * GX + 20
  const H = rows * NH + (rows - 1) * GY + 20
  const pos = new Map(
    placed.map((p) => [p.node.id, { x: 10 + p.layer * (NW + GX), y: 10 + p.row * (NH + GY) }]),
  )
  const maxRate = Math.max(1e-9, ...graph.edges.map((e) => e.ratePerSec))
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
      {graph.edges.map((e) => {
        const a = pos.get(e.from)
        const b = pos.get(e.to)
        if (a === undefined || b === undefined) return null
        const x1 = a.x + NW
        const y1 = a.y + NH / 2
        const x2 = b.x
        const y2 = b.y + NH / 2
        const back = x2 <= x1
        const mx = (x1 + x2) / 2
        const d = back
          ? `M${a.x + NW / 2},${a.y + NH} C${a.x + NW / 2},${a.y + NH + 40} ${b.x + NW / 2},${b.y + NH + 40} ${b.x + NW / 2},${b.y + NH}`
          : `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}`
        const bad = e.errorRatio > BAD_ERROR_RATIO
        const some = e.errorRatio > 0.01
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
              <title>
                {e.from} → {e.to}: {fmtNum(e.ratePerSec)} req/s, {fmtPct(e.errorRatio)} errors
              </title>
            </path>
            <text
              x={back ? (a.x + b.x + NW) / 2 : x2 - 8}
              y={back ? Math.max(a.y, b.y) + NH + 34 : y2 - 6}
              text-anchor={back ? 'middle' : 'end'}
              font-size="10"
              fill={bad ? 'var(--bad)' : 'var(--muted)'}
              paint-order="stroke"
              stroke="var(--panel)"
              stroke-width="3"
            >
              {fmtNum(e.ratePerSec)}/s{e.errorRatio > 0 ? ` · ${bad ? '✕ ' : ''}${fmtPct(e.errorRatio)}` : ''}
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
              {n.p95 !== null ? ` · p95 ${fmtNum(n.p95)} ms` : ''}
            </text>
          </g>
        )
      })}
    </svg>
  )
}
