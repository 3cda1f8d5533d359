/** @module Store internals other areas may use (the control plane's merging and resampling). */
export { mergePoints, seriesId, serviceKey, GLOBAL_KEY } from './merge.js'
export { decodeSketch, quantile } from './sketch.js'
export type { StoredPoint } from './store.js'
