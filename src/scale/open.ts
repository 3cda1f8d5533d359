/** @module The one place actuators are built from config: one per kind the services use, docker and kubernetes loaded on demand. */
import { dirname } from 'node:path'
import type { Config } from '../config/index.js'
import type { Actuator, TargetPool } from './actuator.js'
import { ProcessActuator, type ProcessServiceOptions } from './actuators/process.js'

/**
 * Where the process actuator records its replicas: beside the SQLite file, `limits.dataDir` with
 * PostgreSQL; none with a `:memory:` store (nothing of such a run is meant to outlive it).
 */
export function replicaStateDirOf(config: Config): string | null {
  if (config.store.kind === 'postgres') return config.limits.dataDir
  return config.store.path === ':memory:' ? null : dirname(config.store.path)
}

/** Builds the actuators the config's `scale.actuator` blocks name; returns the actuator of each service. */
export async function openActuators(
  config: Config,
  pool: TargetPool,
  log: {
    onOutput?: (service: string, id: string, line: string) => void
    onWarn?: (message: string) => void
  } = {},
): Promise<{ actuatorFor(service: string): Actuator | null; close(): Promise<void> }> {
  const byKind: {
    process: Record<string, ProcessServiceOptions>
    docker: Record<string, object>
    kubernetes: Record<string, object>
  } = {
    process: {},
    docker: {},
    kubernetes: {},
  }
  for (const [name, svc] of Object.entries(config.services)) {
    const a = svc.scale?.actuator
    if (a === undefined) continue
    const { kind, ...rest } = a
    byKind[kind][name] = rest as never
  }
  const actuators: Actuator[] = []
  if (Object.keys(byKind.process).length > 0) {
    const stateDir = replicaStateDirOf(config)
    actuators.push(
      new ProcessActuator({
        services: byKind.process,
        pool,
        ...log,
        ...(stateDir !== null ? { stateDir } : {}),
      }),
    )
  }
  if (Object.keys(byKind.docker).length > 0) {
    const { DockerActuator } = await import('./actuators/docker.js')
    actuators.push(new DockerActuator({ services: byKind.docker as never, pool }))
  }
  if (Object.keys(byKind.kubernetes).length > 0) {
    const { KubernetesActuator } = await import('./actuators/kubernetes.js')
    actuators.push(new KubernetesActuator({ services: byKind.kubernetes as never }))
  }
  const of = new Map<string, Actuator>()
  for (const a of actuators) for (const s of a.services()) of.set(s, a)
  return {
    actuatorFor: (service) => of.get(service) ?? null,
    close: async () => {
      await Promise.all(actuators.map((a) => a.close()))
    },
  }
}
