/** @module The one place a Bus adapter is chosen from config (`bus.kind`). */
import type { BusConfig } from '../config/telemetry-schema.js'
import {
  SUBJECT_AUDIT,
  SUBJECT_CLIENTS,
  SUBJECT_ROLLUPS,
  SUBJECT_SPANS,
  SUBJECT_TARGETS,
  type Bus,
} from './bus.js'
import { MemoryBus } from './memory.js'

function assertNever(x: never): never {
  throw new Error(`unknown bus kind ${JSON.stringify(x)}`)
}

export interface BusSubjects {
  rollups: string
  spans: string
  clients: string
  audit: string
  targets: string
}

/**
 * The subjects rollups, spans, per-client windows and audit events travel on for this config:
 * `vigil.rollups` / `.spans` / `.clients` / `.audit`, or `<bus.subjectPrefix>.…` on NATS.
 * Publishers and consumers both use this.
 */
export function busSubjects(cfg: BusConfig): BusSubjects {
  if (cfg.kind === 'nats' && cfg.subjectPrefix !== 'vigil')
    return {
      rollups: `${cfg.subjectPrefix}.rollups`,
      spans: `${cfg.subjectPrefix}.spans`,
      clients: `${cfg.subjectPrefix}.clients`,
      audit: `${cfg.subjectPrefix}.audit`,
      targets: `${cfg.subjectPrefix}.targets`,
    }
  return {
    rollups: SUBJECT_ROLLUPS,
    spans: SUBJECT_SPANS,
    clients: SUBJECT_CLIENTS,
    audit: SUBJECT_AUDIT,
    targets: SUBJECT_TARGETS,
  }
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
        streams: defaultStreams(cfg.streamPrefix, busSubjects(cfg)),
        maxAgeMs: cfg.maxAgeMs,
        duplicateWindowMs: cfg.duplicateWindowMs,
        name: opts.name,
      })
    }
    default:
      return assertNever(cfg)
  }
}
