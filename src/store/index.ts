/** @module The store's public surface: the port, its adapters and the one factory. */
export { openStore, retentionOf } from './open.js'
export { SqliteStore } from './sqlite.js'
export { PostgresStore } from './postgres.js'
export { ALL, DEFAULT_RETENTION_MS } from './store.js'
export { GLOBAL_KEY, serviceKey, seriesId } from './merge.js'
export {
  decodeSketch,
  emptySketch,
  encodeSketch,
  mergeSketchBytes,
  quantile,
  SKETCH_RELATIVE_ACCURACY,
} from './sketch.js'
export type {
  ActionMode,
  ActionQuery,
  ActionRecord,
  ActionResult,
  ActionStatus,
  AuditQuery,
  ControlStateEntry,
  EventQuery,
  PruneResult,
  Resolution,
  RetentionMs,
  SeriesInfo,
  Store,
  SilenceMatcher,
  StoredAlertAck,
  StoredAuditEvent,
  StoredEvent,
  StoredGraphRow,
  StoredPoint,
  StoredSilence,
  TraceListItem,
  TraceQuery,
  TraceReader,
} from './store.js'
export type { Sketch } from './sketch.js'
