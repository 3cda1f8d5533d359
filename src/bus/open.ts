/** @module The one place a Bus adapter is chosen from config (`bus.kind`). */
import type { BusConfig } from '../config/telemetry-schema.js'
import type { Bus } from './bus.js'
import { MemoryBus } from './memory.js'

function assertNever(x: never): never {
  throw new Error(`unknown bus kind ${JSON.stringify(x)}`)
}

/**
 * Opens the bus the config names. NATS is imported lazily so embedded mode never loads it.
 * @example
 * const bus = await openBus({ kind: 'memory' })
 */
export async function openBus(cfg: BusConfig, opts: { name?: string } = {}): Promise<Bus> {
  switch (cfg.kind) {
    case 'memory':
      return new MemoryBus()
    case 'nats': {
      const { NatsBus, defaultStreams } = await import('./nats.js')
      return NatsBus.connect({
        servers: cfg.servers,
        streams: defaultStreams(cfg.streamPrefix),
        maxAgeMs: cfg.maxAgeMs,
        duplicateWindowMs: cfg.duplicateWindowMs,
        name: opts.name,
      })
    }
    default:
      return assertNever(cfg)
  }
}
