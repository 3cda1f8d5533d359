/**
 * @module The Actuator port: what changes the number of replicas of a service. Adapters: `process`
 * (local processes, embedded), `docker` (Docker Engine API), `kubernetes` (Deployment scale
 * subresource). All pass `actuatorContract` (actuator.contract.ts).
 *
 * ```
 * policy / admin API ─▶ Actuator.scaleTo(service, n, reason) ─▶ replicas started, healthy ─▶ TargetPool
 *                                                             ◀─ replicas removed from the pool, drained, stopped
 * ```
 */

/** One replica as the actuator sees it. */
export interface Replica {
  /** process id, container id or pod name */
  id: string
  /** where the gateway reaches it (null when the platform routes, as a Kubernetes Service does) */
  url: string | null
  /** passed its health check (or the platform's readiness) */
  ready: boolean
  startedAtMs: number | null
}

export interface ScaleResult {
  service: string
  before: number
  after: number
  /** ids of replicas started and stopped */
  started: string[]
  stopped: string[]
}

export interface RestartResult {
  service: string
  /** replicas replaced one at a time: old id → new id */
  replaced: { from: string; to: string }[]
}

/** What {@link Actuator.adopt} found of a service's replicas left running by a previous instance. */
export interface Adoption {
  service: string
  /** replicas counted before and after */
  before: number
  after: number
  /** now counted as the service's replicas and in the pool */
  adopted: Replica[]
  /** stopped instead, each with why */
  stopped: { id: string; reason: string }[]
}

export interface Actuator {
  readonly kind: 'process' | 'docker' | 'kubernetes'
  /** the services this actuator manages */
  services(): readonly string[]
  /** replicas asked for now (running or starting) */
  current(service: string): Promise<number>
  replicas(service: string): Promise<Replica[]>
  /**
   * Resolves once new replicas are healthy and in the pool, and removed ones drained and
   * stopped. A replica that never becomes healthy is stopped, never pooled, and the call rejects
   * (VGL_ERR_SCALE_UNHEALTHY) after keeping the ones that did.
   */
  scaleTo(service: string, replicas: number, reason: string): Promise<ScaleResult>
  /** Rolling restart: one replica at a time, each replacement healthy before the old one goes. */
  restart(service: string, reason: string): Promise<RestartResult>
  /** stops managing; the process actuator stops the replicas it started */
  close(): Promise<void>
  /**
   * Takes over the replicas of `service` a previous instance left running (the process actuator:
   * its control plane on this host was killed before it could stop them): adopted when `keep` and
   * they are healthy, else stopped. Absent where the platform keeps the replicas itself (docker,
   * kubernetes: a new actuator sees them through `current`).
   */
  adopt?(service: string, keep: boolean): Promise<Adoption>
}

/**
 * Where an actuator tells the gateways which replicas serve a service: the embedded gateway
 * directly, or every gateway over the bus. Resolves once removed targets have drained.
 */
export interface TargetPool {
  /** `null` gives the service back the targets its config lists */
  setTargets(service: string, urls: readonly string[] | null): Promise<void>
}

/** Serialises work per key: a scale and a restart of one service never interleave. */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, job: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(key) ?? Promise.resolve()
    const next = prev.then(job, job)
    const tail = next.catch(() => {})
    this.#tails.set(key, tail)
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key)
    })
    return next
  }
}
