import type { Actuator, Replica } from '../../src/scale/actuator.js'

/**
 * An in-process actuator on a manual clock: every replica asked for is there (and ready) at once,
 * each scale call is recorded with the clock's time. `count` may be set from outside, as another
 * control plane (or an operator) would change what runs.
 */
export class RecordingActuator implements Actuator {
  readonly kind = 'process' as const
  readonly calls: { atMs: number; replicas: number }[] = []
  constructor(
    public count: number,
    private readonly clock: { t: number },
  ) {}
  services = () => ['orders']
  current = async () => this.count
  replicas = async (): Promise<Replica[]> =>
    Array.from({ length: this.count }, (_, i) => ({ id: `r${i}`, url: null, ready: true, startedAtMs: null }))
  scaleTo = async (service: string, replicas: number) => {
    this.calls.push({ atMs: this.clock.t, replicas })
    const before = this.count
    this.count = replicas
    return { service, before, after: replicas, started: [], stopped: [] }
  }
  restart = async (service: string) => ({ service, replaced: [] })
  close = async () => {}
}
