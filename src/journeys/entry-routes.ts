/**
 * @module Which gateway route an unsampled trace entered by. The gateway keeps only some of its
 * spans (errors, slow requests, a sample of the rest), but the services behind it send theirs for
 * every request: a trace without the gateway's span is attributed by its entry span (service and
 * span name), learned from the traces that do carry the gateway's span, else by the only route
 * that leads to that service.
 */

export class EntryRoutes {
  readonly #byService: Map<string, readonly string[]>
  readonly #learned = new Map<string, Map<string, number>>()
  readonly #max: number

  /** @param routesByService the config's routes per upstream service */
  constructor(routesByService: ReadonlyMap<string, readonly string[]>, maxEntries = 10_000) {
    this.#byService = new Map(routesByService)
    this.#max = maxEntries
  }

  /** A trace with the gateway's span showed that `route` leads to this entry span. */
  learn(service: string, spanName: string, route: string): void {
    const key = `${service}\n${spanName}`
    let m = this.#learned.get(key)
    if (m === undefined) {
      if (this.#learned.size >= this.#max) return
      m = new Map()
      this.#learned.set(key, m)
    }
    m.set(route, (m.get(route) ?? 0) + 1)
  }

  /** The route most often seen for this entry span, else the only route to the service, else null. */
  resolve(service: string, spanName: string): string | null {
    const m = this.#learned.get(`${service}\n${spanName}`)
    if (m !== undefined) {
      let best: string | null = null
      let n = 0
      for (const [r, c] of m)
        if (c > n) {
          best = r
          n = c
        }
      if (best !== null) return best
    }
    const routes = this.#byService.get(service)
    return routes !== undefined && routes.length === 1 ? routes[0] : null
  }

  /** Whether a service is behind the gateway (its spans may have the gateway's span as parent). */
  isUpstream(service: string): boolean {
    return this.#byService.has(service)
  }
}
