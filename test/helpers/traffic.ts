/**
 * @module Open-loop traffic for the autoscaling tests: a steady request rate through a gateway
 * whatever the answers take, each answer noted with the replica that served it (a `vigil mock`
 * reply names its service) and when it was sent.
 */

export interface Answer {
  /** when the request was sent */
  atMs: number
  method: string
  status: number
  /** the mock's `service` in a 2xx reply, else null */
  servedBy: string | null
}

export interface TrafficOptions {
  /** default `/orders/x` */
  path?: string
  /** every other request is a POST when true: a POST that reached a replica is never retried */
  mixPost?: boolean
}

export interface Traffic {
  readonly answers: Answer[]
  /** requests sent so far */
  sent(): number
  /** answers that were not 2xx, and requests that got no answer */
  failures(): Answer[]
  setRate(rps: number): void
  /** stops sending and waits for the requests in flight */
  stop(): Promise<void>
}

export function traffic(url: string, rps: number, opts: TrafficOptions = {}): Traffic {
  const answers: Answer[] = []
  const path = opts.path ?? '/orders/x'
  let rate = rps
  let sent = 0
  let stopped = false
  const inFlight = new Set<Promise<void>>()
  const one = async (method: string): Promise<void> => {
    const atMs = Date.now()
    try {
      const res = await fetch(`${url}${path}`, {
        method,
        ...(method === 'POST'
          ? { headers: { 'content-type': 'application/json' }, body: '{"item":"x"}' }
          : {}),
      })
      const text = await res.text()
      let servedBy: string | null = null
      if (res.ok)
        try {
          servedBy = (JSON.parse(text) as { service?: string }).service ?? null
        } catch {
          servedBy = null
        }
      answers.push({ atMs, method, status: res.status, servedBy })
    } catch {
      answers.push({ atMs, method, status: 0, servedBy: null })
    }
  }
  const loop = (async () => {
    while (!stopped) {
      const p = one(opts.mixPost === true && sent % 2 === 1 ? 'POST' : 'GET').finally(() =>
        inFlight.delete(p),
      )
      inFlight.add(p)
      sent++
      await new Promise((r) => setTimeout(r, 1000 / rate))
    }
  })()
  return {
    answers,
    sent: () => sent,
    failures: () => answers.filter((a) => a.status < 200 || a.status >= 300),
    setRate: (r) => (rate = r),
    stop: async () => {
      stopped = true
      await loop
      await Promise.all(inFlight)
    },
  }
}
