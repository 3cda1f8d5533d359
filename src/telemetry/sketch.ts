/**
 * @module Latency sketches: DDSketch (Masson, Rim, Lee, "DDSketch: A fast and fully-mergeable
 * quantile sketch with relative-error guarantees", VLDB 2019) from @datadog/sketches-js, with a
 * compact serialization of our own. The library's `toProto` needs protobufjs reflection and
 * writes ~4 KB per sketch; ours writes the dense bin range as varints (typically 100-400 bytes)
 * and keeps count, sum, min and max, which `fromProto` drops.
 *
 * Wire format v1 (all varints LEB128, signed ones zig-zag):
 * ```
 * u8 version=1 | f64 relativeAccuracy | f64 sum | f64 min | f64 max | uvar zeroCount
 * | store(positive) | store(negative)
 * store := svar minKey | uvar nBins | uvar count[nBins]     (nBins = 0 for an empty store)
 * ```
 */
import { DDSketch } from '@datadog/sketches-js'
import { ByteReader, ByteWriter } from './bytes.js'

export { DDSketch }

/** relative accuracy of every latency sketch Vigil makes; sketches only merge with equal accuracy */
export const LATENCY_RELATIVE_ACCURACY = 0.01
const SKETCH_VERSION = 1

/** A new empty latency sketch (ms, 1% relative accuracy). */
export function createLatencySketch(): DDSketch {
  return new DDSketch({ relativeAccuracy: LATENCY_RELATIVE_ACCURACY })
}

type Store = DDSketch['store']

function writeStore(w: ByteWriter, store: Store): void {
  if (store.count === 0) {
    w.svar(0)
    w.uvar(0)
    return
  }
  const { minKey, maxKey, offset, bins } = store
  w.svar(minKey)
  w.uvar(maxKey - minKey + 1)
  for (let k = minKey; k <= maxKey; k++) w.uvar(bins[k - offset] ?? 0)
}

function readStore(r: ByteReader, store: Store): void {
  const minKey = r.svar()
  const n = r.uvar()
  if (n > 1_000_000) r.fail(`sketch store with ${n} bins`)
  for (let i = 0; i < n; i++) {
    const c = r.uvar()
    if (c > 0) store.add(minKey + i, c)
  }
}

/** Writes a sketch into an open writer (used by the rollup codec to avoid a copy). */
export function writeSketch(w: ByteWriter, s: DDSketch): void {
  w.u8(SKETCH_VERSION)
  w.f64(s.mapping.relativeAccuracy)
  w.f64(s.sum)
  w.f64(s.count === 0 ? 0 : s.min)
  w.f64(s.count === 0 ? 0 : s.max)
  w.uvar(s.zeroCount)
  writeStore(w, s.store)
  writeStore(w, s.negativeStore)
}

export function readSketch(r: ByteReader): DDSketch {
  const version = r.u8()
  if (version !== SKETCH_VERSION)
    r.fail(`sketch codec version ${version}, this build reads ${SKETCH_VERSION}`)
  const relativeAccuracy = r.f64()
  if (!(relativeAccuracy > 0 && relativeAccuracy < 1)) r.fail(`sketch relative accuracy ${relativeAccuracy}`)
  const s = new DDSketch({ relativeAccuracy })
  const sum = r.f64()
  const min = r.f64()
  const max = r.f64()
  const zeroCount = r.uvar()
  readStore(r, s.store)
  readStore(r, s.negativeStore)
  s.zeroCount = zeroCount
  s.count = s.store.count + s.negativeStore.count + zeroCount
  s.sum = sum
  if (s.count > 0) {
    s.min = min
    s.max = max
  }
  return s
}

/**
 * Serializes a sketch to bytes.
 * @example
 * const s = createLatencySketch(); s.accept(12.5)
 * decodeSketch(encodeSketch(s)).getValueAtQuantile(0.5) // ≈ 12.5 (within 1%)
 */
export function encodeSketch(s: DDSketch): Uint8Array {
  const w = new ByteWriter(512)
  writeSketch(w, s)
  return w.finish()
}

export function decodeSketch(data: Uint8Array): DDSketch {
  return readSketch(new ByteReader(data, 'latency sketch'))
}

/**
 * Merges `src` into `dst`, positive and negative stores both (the library's `merge` forgets the
 * negative store; latencies are never negative, but a merged sketch must not silently lose data).
 */
export function mergeSketch(dst: DDSketch, src: DDSketch): void {
  if (src.count === 0) return
  const negCount = src.negativeStore.count
  dst.merge(src)
  if (negCount > 0 && dst.count !== src.count) dst.negativeStore.merge(src.negativeStore)
}
