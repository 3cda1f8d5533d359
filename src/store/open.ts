/** @module `openStore`: the one place that picks the Store adapter from the `store:` config. */
import type { StoreConfig } from '../config/telemetry-schema.js'
import { PostgresStore } from './postgres.js'
import { SqliteStore } from './sqlite.js'
import { DEFAULT_RETENTION_MS, type RetentionMs, type Store } from './store.js'

/**
 * Opens and migrates the configured store.
 * @example
 * const store = await openStore({ kind: 'sqlite', path: ':memory:', retention: {} })
 * await store.close()
 */
export async function openStore(cfg: StoreConfig): Promise<Store> {
  switch (cfg.kind) {
    case 'sqlite':
      return SqliteStore.open({ path: cfg.path })
    case 'postgres':
      return PostgresStore.open({ url: cfg.url, schema: cfg.schema, maxConnections: cfg.maxConnections })
    default:
      return assertNever(cfg)
  }
}

/** The configured retention with defaults filled in. */
export function retentionOf(cfg: StoreConfig): RetentionMs {
  const r = cfg.retention
  const d = DEFAULT_RETENTION_MS
  return {
    raw: r.raw ?? d.raw,
    window: r.window ?? d.window,
    minute: r.minute ?? d.minute,
    hour: r.hour ?? d.hour,
    spans: r.spans ?? d.spans,
    events: r.events ?? d.events,
    forecasts: r.forecasts ?? d.forecasts,
    actions: r.actions ?? d.actions,
    graph: r.graph ?? d.graph,
  }
}

function assertNever(x: never): never {
  throw new Error(`unknown store kind ${JSON.stringify(x)}`)
}
