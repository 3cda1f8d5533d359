/**
 * @module Whether a trace looks whole: it has its root, and every parent its spans name has
 * arrived. Services export a span when it ends, so the spans that end last (the slow calls and the
 * root that encloses them) come last; a trace analysed before they came would describe its fast
 * part only. The live span stage (src/control/journeys.ts) holds a trace that is not whole past
 * its usual wait, and feeds this the trace's further spans one by one: O(1) per span.
 */
import type { JourneySpan } from './span.js'

/** Traces up to this many spans are checked by a scan: a Set costs more to build than to use there. */
const SMALL_TRACE = 16

/**
 * Whether a trace is whole now (see {@link TraceCompleteness}), without keeping state: the check
 * of the many traces that are whole when their wait ends. Linear in spans past SMALL_TRACE.
 */
export function traceIsWhole(spans: readonly JourneySpan[], isRoot: (s: JourneySpan) => boolean): boolean {
  if (spans.length > SMALL_TRACE) return new TraceCompleteness(spans, isRoot).complete
  let rooted = false
  for (const s of spans) {
    const parent = s.parentSpanId
    if (parent === null || parent === '' || isRoot(s)) {
      rooted = true
      continue
    }
    let found = false
    for (const o of spans)
      if (o.spanId === parent) {
        found = true
        break
      }
    if (!found) return false
  }
  return rooted
}

export class TraceCompleteness {
  readonly #ids = new Set<string>()
  /** parent ids named by a span and not (yet) among the trace's spans */
  readonly #missing = new Set<string>()
  #rooted = false
  readonly #isRoot: (s: JourneySpan) => boolean

  /**
   * @param isRoot a span that roots the trace although it names a parent (the gateway's span,
   *   whose parent is the client's; the entry service's span when the gateway's will not come)
   */
  constructor(spans: Iterable<JourneySpan>, isRoot: (s: JourneySpan) => boolean) {
    this.#isRoot = isRoot
    for (const s of spans) this.add(s)
  }

  add(s: JourneySpan): void {
    if (this.#ids.has(s.spanId)) return // a duplicate adds nothing
    this.#ids.add(s.spanId)
    this.#missing.delete(s.spanId)
    const parent = s.parentSpanId
    if (parent === null || parent === '' || this.#isRoot(s)) this.#rooted = true
    else if (!this.#ids.has(parent)) this.#missing.add(parent)
  }

  /** it has a root and no span names a parent that has not arrived */
  get complete(): boolean {
    return this.#rooted && this.#missing.size === 0
  }

  /** parents named and not arrived */
  get missing(): number {
    return this.#missing.size
  }
}
