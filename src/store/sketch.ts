/**
 * @module Latency sketch helpers shared by the store and the control plane: decode, merge and
 * encode serialized DDSketches (Masson, Rim, Lee, "DDSketch: a fast and fully-mergeable quantile
 * sketch with relative-error guarantees", VLDB 2019). Merging is exact: the merged sketch equals
 * the sketch of the union of the inputs, so p99 across gateways keeps the 1% relative error.
 */
import { DDSketch } from '@datadog/sketches-js'

export type Sketch = DDSketch

/** Relative accuracy every Vigil sketch uses; sketches of different accuracy cannot merge. */
export const SKETCH_RELATIVE_ACCURACY = 0.01

export function emptySketch(): Sketch {
  return new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY })
}

// Merged sketches are encoded and then merged again one level up (route → service → global);
// remembering the decoded form of bytes we encoded saves a protobuf decode per point.
const decoded = new WeakMap<Uint8Array, Sketch>()

/** Decodes a serialized sketch; an empty byte array is an empty sketch. Do not mutate the result. */
export function decodeSketch(bytes: Uint8Array): Sketch {
  if (bytes.byteLength === 0) return emptySketch()
  const known = decoded.get(bytes)
  if (known !== undefined) return known
  const s = DDSketch.fromProto(bytes)
  decoded.set(bytes, s)
  return s
}

export function encodeSketch(s: Sketch): Uint8Array {
  const bytes = s.toProto()
  decoded.set(bytes, s)
  return bytes
}

/** Merges serialized sketches into a new sketch. */
export function mergeSketchBytes(all: readonly Uint8Array[]): Sketch {
  const out = emptySketch()
  for (const b of all) if (b.byteLength > 0) out.merge(decodeSketch(b))
  return out
}

/** Quantile q in [0,1] of a sketch, or null when it holds no values. */
export function quantile(s: Sketch, q: number): number | null {
  return s.count > 0 ? s.getValueAtQuantile(q) : null
}
