/**
 * @module Whether a trace looks whole: it has its root, and every parent its spans name has
 * arrived. Services export a span when it ends, so the spans that end last (the slow calls and the
 * root that encloses them) come last; a trace analysed before they came would describe its fast
 * part only. The live span stage (src/control/journeys.ts) holds a trace that is not whole past
 * its usual wait, and feeds this the trace's further spans one by one: O(1) per span. Parents
 * known never to come (a caller that passes its span id on without sending its spans) are not
 * awaited: see {@link KnownPhantoms}.
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

/**
 * Parents known never to come (learned by {@link PhantomParents}): a span naming one is not held
 * for it, as the gateway's span is not held for its client's.
 */
export interface KnownPhantoms {
  /**
   * null: the parent `s` names is awaited. 'boundary': it is not (the trace's root still is).
   * 'root': it is not, and `s` stands for the trace's root (nothing above the missing parent comes).
   */
  excuse(s: JourneySpan): 'root' | 'boundary' | null
}

export class TraceCompleteness {
  readonly #ids = new Set<string>()
  /** parent ids named by a span and not (yet) among the trace's spans → the first span naming each */
  readonly #missing = new Map<string, JourneySpan>()
  /** parent ids not awaited (known phantoms) and not among the trace's spans → the span naming each */
  readonly #excused = new Map<string, JourneySpan>()
  #rooted = false
  #rootedByPhantom = false
  readonly #isRoot: (s: JourneySpan) => boolean
  readonly #phantoms: KnownPhantoms | null

  /**
   * @param isRoot a span that roots the trace although it names a parent (the gateway's span,
   *   whose parent is the client's; the entry service's span when the gateway's will not come)
   * @param phantoms parents known never to come: not awaited
   */
  constructor(
    spans: Iterable<JourneySpan>,
    isRoot: (s: JourneySpan) => boolean,
    phantoms: KnownPhantoms | null = null,
  ) {
    this.#isRoot = isRoot
    this.#phantoms = phantoms
    for (const s of spans) this.add(s)
  }

  /**
   * Adds a span; returns the span that named it as its parent while it was missing (awaited or
   * excused), if any: the parent came after all.
   */
  add(s: JourneySpan): JourneySpan | undefined {
    if (this.#ids.has(s.spanId)) return undefined // a duplicate adds nothing
    this.#ids.add(s.spanId)
    const child = this.#missing.get(s.spanId) ?? this.#excused.get(s.spanId)
    if (child !== undefined) {
      this.#missing.delete(s.spanId)
      this.#excused.delete(s.spanId)
    }
    const parent = s.parentSpanId
    if (parent === null || parent === '' || this.#isRoot(s)) this.#rooted = true
    else if (!this.#ids.has(parent)) {
      const why = this.#phantoms?.excuse(s) ?? null
      if (why === null) {
        if (!this.#missing.has(parent)) this.#missing.set(parent, s)
      } else {
        if (!this.#excused.has(parent)) this.#excused.set(parent, s)
        if (why === 'root') this.#rootedByPhantom = true
      }
    }
    return child
  }

  /**
   * Asks the known phantoms again about the parents still awaited (one was learned since they were
   * added); returns whether one is no longer awaited.
   */
  recheck(): boolean {
    if (this.#phantoms === null) return false
    let changed = false
    for (const [parent, s] of this.#missing) {
      const why = this.#phantoms.excuse(s)
      if (why === null) continue
      this.#missing.delete(parent)
      this.#excused.set(parent, s)
      if (why === 'root') this.#rootedByPhantom = true
      changed = true
    }
    return changed
  }

  /** it has a root and no span names a parent that has not arrived (and is awaited) */
  get complete(): boolean {
    return (this.#rooted || this.#rootedByPhantom) && this.#missing.size === 0
  }

  /** it has a root of its own spans, not one stood in for by a span under a known phantom */
  get rooted(): boolean {
    return this.#rooted
  }

  /** parents named, awaited and not arrived */
  get missing(): number {
    return this.#missing.size
  }

  /** one span per awaited parent that has not arrived: the span that named it */
  awaiting(): IterableIterator<JourneySpan> {
    return this.#missing.values()
  }

  /** one span per parent not awaited (a known phantom) that has not arrived: the span that named it */
  excused(): IterableIterator<[parentSpanId: string, child: JourneySpan]> {
    return this.#excused.entries()
  }
}
