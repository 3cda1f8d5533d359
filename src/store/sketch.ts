/**
 * @module Latency sketch helpers for the store and the control plane, on top of the telemetry
 * area's DDSketch wire format (src/telemetry/sketch.ts; Masson, Rim, Lee, VLDB 2019). Merging is
 * exact: the merged sketch equals the sketch of the union of the inputs, so p99 across gateways
 * keeps the 1% relative error.
 */
import {
  createLatencySketch,
  decodeSketch as decodeWire,
  encodeSketch as encodeWire,
  LATENCY_RELATIVE_ACCURACY,
  mergeSketch,
  type DDSketch,
} from '../telemetry/sketch.js'

export type Sketch = DDSketch

/** Relative accuracy every Vigil sketch uses; sketches of different accuracy cannot merge. */
export const SKETCH_RELATIVE_ACCURACY = LATENCY_RELATIVE_ACCURACY

export function emptySketch(): Sketch {
  return createLatencySketch()
}

// Merged sketches are encoded and then merged again one level up (route → service → global);
// remembering the decoded form of bytes we encoded saves a decode per point.
const decoded = new WeakMap<Uint8Array, Sketch>()

/** Decodes a serialized sketch; an empty byte array is an empty sketch. Do not mutate the result. */
export function decodeSketch(bytes: Uint8Array): Sketch {
  if (bytes.byteLength === 0) return emptySketch()
  const known = decoded.get(bytes)
  if (known !== undefined) return known
  const s = decodeWire(bytes)
  decoded.set(bytes, s)
  return s
}

export function encodeSketch(s: Sketch): Uint8Array {
  const bytes = encodeWire(s)
  decoded.set(bytes, s)
  return bytes
}

/** Merges `src` into `dst` (both stores, see telemetry/sketch.ts). */
export function mergeInto(dst: Sketch, src: Sketch): void {
  mergeSketch(dst, src)
}

/** Merges serialized sketches into a new sketch. */
export function mergeSketchBytes(all: readonly Uint8Array[]): Sketch {
  const out = emptySketch()
  for (const b of all) if (b.byteLength > 0) mergeSketch(out, decodeSketch(b))
  return out
}

/** Quantile q in [0,1] of a sketch, or null when it holds no values. */
export function quantile(s: Sketch, q: number): number | null {
  return s.count > 0 ? s.getValueAtQuantile(q) : null
}
