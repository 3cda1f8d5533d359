/**
 * @module Wires one control plane from config: opens the store, builds the ControlPlane on the
 * given bus and starts it. Used by `vigil control` (NATS + PostgreSQL) and by the embedded
 * worker (MemoryBus over a MessagePort + SQLite).
 */
import type { Bus } from '../bus/index.js'
import { busSubjects } from '../bus/index.js'
import type { Config } from '../config/index.js'
import { openStore, retentionOf, type Store } from '../store/index.js'
import { ControlPlane } from './control-plane.js'

export interface RunningControlPlane {
  plane: ControlPlane
  store: Store
  /** graceful: writes pending windows, then closes the store (the bus belongs to the caller) */
  stop(): Promise<void>
}

export interface StartControlOptions {
  /** overrides control.graceMs (embedded mode uses a short grace: one gateway, in process) */
  graceMs?: number
  onError?: (err: Error, what: string) => void
}

export async function startControlPlane(
  config: Config,
  bus: Bus,
  opts: StartControlOptions = {},
): Promise<RunningControlPlane> {
  const store = await openStore(config.store)
  const plane = new ControlPlane({
    store,
    bus,
    subjects: busSubjects(config.bus),
    durable: config.control.durable,
    graceMs: opts.graceMs ?? config.control.graceMs,
    historyPoints: config.control.historyPoints,
    maxInFlight: config.control.maxInFlight,
    retention: retentionOf(config.store),
    onError: opts.onError,
  })
  try {
    await plane.start()
  } catch (err) {
    await store.close()
    throw err
  }
  let stopping: Promise<void> | null = null
  return {
    plane,
    store,
    stop: () =>
      (stopping ??= (async () => {
        await plane.stop()
        await store.close()
      })()),
  }
}
