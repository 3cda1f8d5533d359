/**
 * @module DockerActuator: replicas are containers created from an image through the Docker Engine
 * API (dockerode), labelled `vigil.managed=true` and `vigil.service=<name>`, attached to a
 * network the gateway can reach. A container is pooled once its Docker health check reports
 * `healthy` (or, for an image without one, once it runs); one that turns `unhealthy` or does not
 * become healthy in time is removed and never pooled. The daemon comes from `DOCKER_HOST` (or the
 * local socket), as the docker CLI finds it, unless `docker` options are given.
 */
import Docker from 'dockerode'
import {
  VGL_ERR_SCALE_ACTUATOR,
  VGL_ERR_SCALE_REQUEST,
  VGL_ERR_SCALE_UNHEALTHY,
  VGL_ERR_SCALE_UNKNOWN_SERVICE,
  withFix,
} from '../../errors.js'
import {
  KeyedQueue,
  type Actuator,
  type Replica,
  type RestartResult,
  type ScaleResult,
  type TargetPool,
} from '../actuator.js'

export interface DockerServiceOptions {
  image: string
  /** network the containers join (the gateway must be on it) */
  network?: string
  /** port the service listens on inside the container (default 8080; also set as PORT) */
  containerPort?: number
  env?: Readonly<Record<string, string>>
  /** how long a new container has to become healthy (default 60 s) */
  startTimeoutMs?: number
  /** seconds Docker waits between SIGTERM and SIGKILL on stop (default 10) */
  stopTimeoutSec?: number
}

export interface DockerActuatorOptions {
  services: Readonly<Record<string, DockerServiceOptions>>
  pool: TargetPool
  /** Engine API endpoint; default: DOCKER_HOST, else the local socket */
  docker?: Docker.DockerOptions
  /** between inspections while waiting for health (default 500 ms) */
  pollMs?: number
}

export const LABEL_MANAGED = 'vigil.managed'
export const LABEL_SERVICE = 'vigil.service'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface DockerApiError {
  statusCode?: number
  json?: { message?: string }
  message?: string
  reason?: string
}

function describe(err: unknown, what: string): string {
  const e = err as DockerApiError
  const detail = e.json?.message ?? e.reason ?? e.message ?? String(err)
  return `${what}: ${e.statusCode !== undefined ? `HTTP ${e.statusCode} ` : ''}${detail}`
}

export class DockerActuator implements Actuator {
  readonly kind = 'docker' as const
  readonly #o: DockerActuatorOptions
  readonly #docker: Docker
  readonly #queue = new KeyedQueue()

  constructor(opts: DockerActuatorOptions) {
    for (const [name, svc] of Object.entries(opts.services))
      if (svc.image === '')
        throw VGL_ERR_SCALE_REQUEST(`services.${name}.scale.docker.image: expected an image name`)
    this.#o = opts
    this.#docker = new Docker(opts.docker)
  }

  services(): readonly string[] {
    return Object.keys(this.#o.services)
  }

  #svc(service: string): DockerServiceOptions {
    const svc = this.#o.services[service]
    if (svc === undefined)
      throw VGL_ERR_SCALE_UNKNOWN_SERVICE(service, this.kind, this.services().join(', ') || 'none')
    return svc
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw withFix(
        VGL_ERR_SCALE_ACTUATOR(this.kind, describe(err, what)),
        'check that Vigil reaches the Docker Engine API (DOCKER_HOST, or /var/run/docker.sock readable by its user) ' +
          "and that the service's scale.actuator.image exists (docker pull IMAGE)",
      )
    }
  }

  /** Running containers of the service, oldest first. */
  async #containers(service: string): Promise<Docker.ContainerInfo[]> {
    const list = await this.#call('GET /containers/json', () =>
      this.#docker.listContainers({
        filters: {
          label: [`${LABEL_MANAGED}=true`, `${LABEL_SERVICE}=${service}`],
          status: ['running', 'created'],
        },
      }),
    )
    return list.sort((a, b) => a.Created - b.Created || a.Id.localeCompare(b.Id))
  }

  #urlOf(
    service: string,
    info: { NetworkSettings?: { Networks?: Record<string, { IPAddress?: string }> } },
    name: string,
  ): string {
    const svc = this.#svc(service)
    const nets = info.NetworkSettings?.Networks ?? {}
    const ip =
      (svc.network !== undefined ? nets[svc.network]?.IPAddress : Object.values(nets)[0]?.IPAddress) || name
    return `http://${ip}:${svc.containerPort ?? 8080}`
  }

  async current(service: string): Promise<number> {
    this.#svc(service)
    return (await this.#containers(service)).length
  }

  async replicas(service: string): Promise<Replica[]> {
    this.#svc(service)
    return (await this.#containers(service)).map((c) => ({
      id: c.Id,
      url: this.#urlOf(service, c, (c.Names[0] ?? c.Id).replace(/^\//, '')),
      ready: c.State === 'running' && !/unhealthy|starting/.test(c.Status),
      startedAtMs: c.Created * 1000,
    }))
  }

  scaleTo(service: string, replicas: number, _reason: string): Promise<ScaleResult> {
    try {
      this.#svc(service)
    } catch (err) {
      return Promise.reject(err)
    }
    if (!Number.isInteger(replicas) || replicas < 0)
      return Promise.reject(VGL_ERR_SCALE_REQUEST(`replicas: expected a whole number ≥ 0, got ${replicas}`))
    return this.#queue.run(service, async () => {
      const list = await this.#containers(service)
      const before = list.length
      const started: string[] = []
      const stopped: string[] = []
      if (replicas > before) {
        const results = await Promise.allSettled(
          Array.from({ length: replicas - before }, () => this.#start(service)),
        )
        for (const r of results) if (r.status === 'fulfilled') started.push(r.value.id)
        if (started.length > 0) await this.#publish(service)
        const failed = results.find((r) => r.status === 'rejected')
        if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
      } else if (replicas < before) {
        const leaving = list.slice(replicas)
        await this.#publish(service, new Set(leaving.map((c) => c.Id)))
        for (const c of leaving) {
          await this.#remove(service, c.Id)
          stopped.push(c.Id)
        }
      }
      return { service, before, after: before + started.length - stopped.length, started, stopped }
    })
  }

  restart(service: string, _reason: string): Promise<RestartResult> {
    try {
      this.#svc(service)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#queue.run(service, async () => {
      const replaced: { from: string; to: string }[] = []
      for (const old of await this.#containers(service)) {
        const fresh = await this.#start(service)
        await this.#publish(service, new Set([old.Id]))
        await this.#remove(service, old.Id)
        replaced.push({ from: old.Id, to: fresh.id })
      }
      return { service, replaced }
    })
  }

  async #publish(service: string, without: ReadonlySet<string> = new Set()): Promise<void> {
    const reps = await this.replicas(service)
    await this.#o.pool.setTargets(
      service,
      reps.filter((r) => r.ready && !without.has(r.id)).map((r) => r.url!),
    )
  }

  async #start(service: string): Promise<{ id: string }> {
    const svc = this.#svc(service)
    const port = svc.containerPort ?? 8080
    const env = Object.entries({ ...svc.env, PORT: String(port) }).map(([k, v]) => `${k}=${v}`)
    const container = await this.#call('POST /containers/create', () =>
      this.#docker.createContainer({
        Image: svc.image,
        Env: env,
        Labels: { [LABEL_MANAGED]: 'true', [LABEL_SERVICE]: service },
        ExposedPorts: { [`${port}/tcp`]: {} },
        StopTimeout: svc.stopTimeoutSec ?? 10,
        HostConfig: svc.network !== undefined ? { NetworkMode: svc.network } : {},
        ...(svc.network !== undefined
          ? { NetworkingConfig: { EndpointsConfig: { [svc.network]: {} } } }
          : {}),
      }),
    )
    try {
      await this.#call(`POST /containers/${container.id}/start`, () => container.start())
      const timeoutMs = svc.startTimeoutMs ?? 60_000
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const info = await this.#call(`GET /containers/${container.id}/json`, () => container.inspect())
        const health = info.State.Health?.Status
        if (!info.State.Running && info.State.Status !== 'created')
          throw withFix(
            VGL_ERR_SCALE_ACTUATOR(
              this.kind,
              `container ${container.id} ${info.State.Status} (exit ${info.State.ExitCode}) before it was healthy`,
            ),
            `read why it stopped (docker logs ${container.id}) and fix services.${service}.scale.actuator (image, env, port)`,
          )
        if (info.State.Running && (health === undefined || health === 'healthy' || health === 'none')) break
        if (health === 'unhealthy' || Date.now() >= deadline)
          throw withFix(
            VGL_ERR_SCALE_UNHEALTHY(
              service,
              timeoutMs,
              `container ${container.id} health ${health ?? info.State.Status}`,
            ),
            `check the image's HEALTHCHECK and the container's log (docker logs ${container.id}), or raise ` +
              `services.${service}.scale.actuator.startTimeoutMs (${timeoutMs} ms) if it needs longer to start; ` +
              'the container was stopped and never added to the pool',
          )
        await sleep(this.#o.pollMs ?? 500)
      }
    } catch (err) {
      // never leave a container behind that the pool does not know
      await this.#remove(service, container.id).catch(() => {})
      throw err
    }
    return { id: container.id }
  }

  async #remove(service: string, id: string): Promise<void> {
    const c = this.#docker.getContainer(id)
    const t = this.#svc(service).stopTimeoutSec ?? 10
    await this.#call(`POST /containers/${id}/stop`, () => c.stop({ t })).catch((err: { message: string }) => {
      // 304: already stopped
      if (!/HTTP 304/.test(err.message)) throw err
    })
    await this.#call(`DELETE /containers/${id}`, () => c.remove({ force: true }))
  }

  /** Containers keep running: they are the deployment, not this process's children. */
  async close(): Promise<void> {}
}
