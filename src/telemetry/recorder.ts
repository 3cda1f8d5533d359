/**
 * @module The seam between the gateway and telemetry. The gateway resolves a `SeriesRecorder`
 * once per route when the route table is built (no per-request key strings), then calls
 * `record` once per finished request. Implementations must not allocate much, must never
 * throw, and must never wait on I/O.
 */

/** How a request ended from the gateway's point of view. */
export type RequestOutcome = 'ok' | 'timeout' | 'connect_error' | 'limited' | 'no_target' | 'client_abort'

/** One finished request. The gateway may reuse the object after `record` returns. */
export interface RequestEvent {
  status: number
  outcome: RequestOutcome
  /** request received to response finished; counts in latency only when `sentUpstream` */
  latencyMs: number
  bytesIn: number
  bytesOut: number
  /** W3C trace context of the gateway's span for this request */
  traceId: string
  spanId: string
  parentSpanId: string | null
  requestId: string
  method: string
  path: string
  /** upstream target URL origin, or '' when none was tried */
  target: string
  /** upstream tries; 0 when the gateway answered by itself */
  attempts: number
  startTimeMs: number
}

/**
 * Whether the request was sent to an upstream. Only these count in latency (the rollups' sketch,
 * the duration histogram): an answer the gateway makes itself (a 429 or 401 from the limiter, a
 * 413, a 503 with no healthy target or every breaker open) or a client gone before any try takes
 * a fraction of a millisecond, and a burst of them would drag the percentiles of the requests
 * served down to nothing. They still count in requests, status classes and the limited ratio, and
 * apart in the rollup's `refused` (their 5xx in `refused5xx`), so the service's own error ratio
 * can leave them out.
 */
export function sentUpstream(ev: RequestEvent): boolean {
  return ev.attempts > 0
}

export interface SeriesKey {
  service: string
  route: string
  env: string
}

export interface SeriesRecorder {
  record(ev: RequestEvent): void
}

export interface Recorder {
  /** resolved once per route at route-table build time */
  series(key: SeriesKey): SeriesRecorder
  close(): Promise<void>
}

/** A recorder that drops everything: telemetry disabled. */
export const NOOP_RECORDER: Recorder = {
  series: () => ({ record: () => {} }),
  close: async () => {},
}
