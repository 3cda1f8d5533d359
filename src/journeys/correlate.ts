/**
 * @module Alert correlation by topology: alerts on services that call each other (an edge of the
 * service graph, either way) and that started within `windowMs` of each other are one incident,
 * so one failing dependency pages once, not once per caller.
 *
 * The incident is headed by the most likely root cause: among the alerted services that call no
 * other alerted service of the incident (the deepest dependencies), the one the root-cause ranking
 * scores highest when a ranking is given, then the one whose alert started first.
 */

export interface CorrelatableAlert {
  id: string
  service: string
  /** null or absent: any env of the service */
  env?: string | null
  startsAtMs: number
}

export interface Incident<A extends CorrelatableAlert = CorrelatableAlert> {
  /** the id of the heading alert */
  id: string
  head: A
  /** every alert of the incident, the head first, then by start */
  alerts: A[]
  /** why the head leads, in one sentence */
  reason: string
}

/** A call edge of the service graph between two services (`from` calls `to`). */
export interface ServiceEdge {
  from: { service: string; env: string }
  to: { service: string; env: string }
}

const matches = (a: CorrelatableAlert, n: { service: string; env: string }) =>
  a.service === n.service && (a.env === undefined || a.env === null || a.env === n.env)

/**
 * Groups alerts into incidents.
 * @param score optional root-cause score per service (`service` → 0..1)
 */
export function correlateAlerts<A extends CorrelatableAlert>(
  alerts: readonly A[],
  edges: readonly ServiceEdge[],
  windowMs: number,
  score?: (service: string, env: string | null) => number,
): Incident<A>[] {
  const n = alerts.length
  // calls[i][j]: alert i's service calls alert j's service
  const calls = (i: number, j: number) =>
    edges.some((e) => matches(alerts[i], e.from) && matches(alerts[j], e.to))
  const parent = Array.from({ length: n }, (_, i) => i)
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]]
    return i
  }
  const callsOf: boolean[][] = Array.from({ length: n }, () => new Array<boolean>(n).fill(false))
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      if (i === j) continue
      callsOf[i][j] = calls(i, j)
      const sameService = alerts[i].service === alerts[j].service
      const near = Math.abs(alerts[i].startsAtMs - alerts[j].startsAtMs) <= windowMs
      if (near && (callsOf[i][j] || sameService)) parent[find(i)] = find(j)
    }
  const groups = new Map<number, number[]>()
  for (let i = 0; i < n; i++) {
    const r = find(i)
    const g = groups.get(r)
    if (g === undefined) groups.set(r, [i])
    else g.push(i)
  }
  const out: Incident<A>[] = []
  for (const members of groups.values()) {
    // deepest dependencies: alerted services that call no other alerted service of the incident
    const deepest = members.filter(
      (i) => !members.some((j) => j !== i && callsOf[i][j] && alerts[j].service !== alerts[i].service),
    )
    const pool = deepest.length > 0 ? deepest : members
    const s = (i: number) => score?.(alerts[i].service, alerts[i].env ?? null) ?? 0
    pool.sort((a, b) => s(b) - s(a) || alerts[a].startsAtMs - alerts[b].startsAtMs)
    const head = pool[0]
    const rest = members.filter((i) => i !== head).sort((a, b) => alerts[a].startsAtMs - alerts[b].startsAtMs)
    const callers = rest.filter((i) => callsOf[i][head]).map((i) => alerts[i].service)
    const reason =
      members.length === 1
        ? 'a single alert'
        : `${alerts[head].service} is called by ${callers.length > 0 ? [...new Set(callers)].join(', ') : 'the other alerted services'} and calls none of them${score !== undefined && s(head) > 0 ? `; root-cause score ${s(head).toFixed(2)}` : ''}`
    out.push({
      id: alerts[head].id,
      head: alerts[head],
      alerts: [alerts[head], ...rest.map((i) => alerts[i])],
      reason,
    })
  }
  out.sort((a, b) => a.head.startsAtMs - b.head.startsAtMs)
  return out
}
