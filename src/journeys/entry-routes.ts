/**
 * @module Which gateway route an unsampled trace entered by. The gateway keeps only some of its
 * spans (errors, slow requests, a sample of the rest), but the services behind it send theirs for
 * every request: a trace without the gateway's span is attributed by its entry span (service and
 * span name), learned from the traces that do carry the gateway's span, else by the only route
 * that leads to that service.
 *
 * A service behind the gateway may also be called by another service (orders calls shop, itself
 * the entry of route shop). Its span then names the caller's span as parent, and without the
 * gateway's span it would look like the entry of an unsampled trace: the trace would be decided
 * before the caller's slower spans came. Operations (service and span name) seen called by another
 * service and never by the gateway are learned as inner: their spans do not stand for the root.
 */

export class EntryRoutes {
  readonly #byService: Map<string, readonly string[]>
  readonly #learned = new Map<string, Map<string, number>>()
  /** operations seen called by another service's span (each key once) */
  readonly #inner = new Set<string>()
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

  /** A trace showed this operation of an upstream service called by another service's span. */
  learnInner(service: string, spanName: string): void {
    if (this.#inner.size < this.#max) this.#inner.add(`${service}\n${spanName}`)
  }

  /**
   * Whether a span of this operation may be the entry of a trace whose gateway span did not come:
   * its service is behind the gateway, and the operation was seen called by the gateway or never
   * seen called by another service.
   */
  mayEnter(service: string, spanName: string): boolean {
    if (!this.#byService.has(service)) return false
    if (this.#inner.size === 0) return true
    const key = `${service}\n${spanName}`
    return !this.#inner.has(key) || this.#learned.has(key)
  }

  /** Whether a service is behind the gateway (its spans may have the gateway's span as parent). */
  isUpstream(service: string): boolean {
    return this.#byService.has(service)
  }
}
