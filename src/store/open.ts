/** @module `openStore`: the one place that picks the Store adapter from the `store:` config. */
import type { StoreConfig } from '../config/telemetry-schema.js'
import { PostgresStore } from './postgres.js'
import { SqliteStore } from './sqlite.js'
import { DEFAULT_RETENTION_MS, type RetentionMs, type Store } from './store.js'

export interface OpenStoreOptions {
  /**
   * Only open a store that exists, never create one: a command that reads (a replay) would
   * otherwise leave an empty database behind wherever its config points. The words say what to
   * do instead; a missing store throws VGL_ERR_STORE_MISSING naming where it looked, then them.
   */
  mustExist?: string
}

/**
 * Opens and migrates the configured store.
 * @example
 * const store = await openStore({ kind: 'sqlite', path: ':memory:', retention: {} })
 * await store.close()
 */
export async function openStore(cfg: StoreConfig, opts: OpenStoreOptions = {}): Promise<Store> {
  switch (cfg.kind) {
    case 'sqlite':
      return SqliteStore.open({ path: cfg.path, mustExist: opts.mustExist })
    case 'postgres':
      return PostgresStore.open({
        url: cfg.url,
        schema: cfg.schema,
        maxConnections: cfg.maxConnections,
        mustExist: opts.mustExist,
      })
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
