/**
 * @module KubernetesActuator: each service is a Deployment, scaled through its `scale`
 * subresource (`PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale`, a merge patch of
 * `spec.replicas`) with @kubernetes/client-node 1.4. The Deployment controller starts and stops
 * pods and a Kubernetes Service routes to the ready ones, so the gateway's target stays the
 * Service URL; the actuator waits until the Deployment reports every replica updated and ready.
 * A restart patches `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]`, as
 * `kubectl rollout restart` does; the Deployment's rolling-update strategy (maxSurge,
 * maxUnavailable) sets the pace. Credentials: KUBECONFIG / ~/.kube/config, or the in-cluster
 * service account, as kubectl finds them.
 */
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Deployment,
} from '@kubernetes/client-node'
import {
  VGL_ERR_SCALE_ACTUATOR,
  VGL_ERR_SCALE_REQUEST,
  VGL_ERR_SCALE_UNHEALTHY,
  VGL_ERR_SCALE_UNKNOWN_SERVICE,
  withFix,
} from '../../errors.js'
import { KeyedQueue, type Actuator, type Replica, type RestartResult, type ScaleResult } from '../actuator.js'

export interface KubernetesServiceOptions {
  /** default `default` */
  namespace?: string
  /** the Deployment's name (default: the service's name) */
  deployment?: string
  /** how long to wait for a rollout (default 5 min) */
  rolloutTimeoutMs?: number
}

export interface KubernetesActuatorOptions {
  services: Readonly<Record<string, KubernetesServiceOptions>>
  /** default: `KubeConfig.loadFromDefault()` (KUBECONFIG, ~/.kube/config, in-cluster) */
  kubeConfig?: KubeConfig
  /** between status reads while waiting (default 1 s) */
  pollMs?: number
}

interface DeploymentRef {
  name: string
  namespace: string
  timeoutMs: number
}

const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function describe(err: unknown, what: string): string {
  const e = err as { code?: number; body?: unknown; message?: string }
  let detail = e.message ?? String(err)
  if (typeof e.body === 'string') {
    try {
      detail = (JSON.parse(e.body) as { message?: string }).message ?? e.body
    } catch {
      detail = e.body
    }
  } else if (typeof e.body === 'object' && e.body !== null && 'message' in e.body)
    detail = String((e.body as { message: unknown }).message)
  return `${what}: ${e.code !== undefined ? `HTTP ${e.code} ` : ''}${detail}`
}

export class KubernetesActuator implements Actuator {
  readonly kind = 'kubernetes' as const
  readonly #o: KubernetesActuatorOptions
  readonly #apps: AppsV1Api
  readonly #core: CoreV1Api
  readonly #queue = new KeyedQueue()

  constructor(opts: KubernetesActuatorOptions) {
    this.#o = opts
    let kc = opts.kubeConfig
    if (kc === undefined) {
      kc = new KubeConfig()
      kc.loadFromDefault()
    }
    this.#apps = kc.makeApiClient(AppsV1Api)
    this.#core = kc.makeApiClient(CoreV1Api)
  }

  services(): readonly string[] {
    return Object.keys(this.#o.services)
  }

  #target(service: string): DeploymentRef {
    const svc = this.#o.services[service]
    if (svc === undefined)
      throw VGL_ERR_SCALE_UNKNOWN_SERVICE(service, this.kind, this.services().join(', ') || 'none')
    return {
      name: svc.deployment ?? service,
      namespace: svc.namespace ?? 'default',
      timeoutMs: svc.rolloutTimeoutMs ?? 300_000,
    }
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw withFix(
        VGL_ERR_SCALE_ACTUATOR(this.kind, describe(err, what)),
        'check the kubeconfig Vigil reads (KUBECONFIG, ~/.kube/config, or the in-cluster service account), ' +
          "that the Deployment named by the service's scale.actuator (namespace, deployment) exists, " +
          'and that its role may get and patch deployments and deployments/scale in that namespace',
      )
    }
  }

  async current(service: string): Promise<number> {
    const t = this.#target(service)
    const scale = await this.#call(`GET deployments/${t.name}/scale`, () =>
      this.#apps.readNamespacedDeploymentScale({ name: t.name, namespace: t.namespace }),
    )
    return scale.spec?.replicas ?? 0
  }

  async replicas(service: string): Promise<Replica[]> {
    const t = this.#target(service)
    const scale = await this.#call(`GET deployments/${t.name}/scale`, () =>
      this.#apps.readNamespacedDeploymentScale({ name: t.name, namespace: t.namespace }),
    )
    const pods = await this.#call(`GET pods?labelSelector=${scale.status?.selector ?? ''}`, () =>
      this.#core.listNamespacedPod({ namespace: t.namespace, labelSelector: scale.status?.selector }),
    )
    return pods.items
      .filter(
        (p) =>
          p.metadata?.deletionTimestamp == null &&
          p.status?.phase !== 'Succeeded' &&
          p.status?.phase !== 'Failed',
      )
      .map((p) => ({
        id: p.metadata?.name ?? '',
        url: null,
        ready: p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
        startedAtMs: p.status?.startTime !== undefined ? new Date(p.status.startTime).getTime() : null,
      }))
  }

  scaleTo(service: string, replicas: number, _reason: string): Promise<ScaleResult> {
    let t: DeploymentRef
    try {
      t = this.#target(service)
    } catch (err) {
      return Promise.reject(err)
    }
    if (!Number.isInteger(replicas) || replicas < 0)
      return Promise.reject(VGL_ERR_SCALE_REQUEST(`replicas: expected a whole number ≥ 0, got ${replicas}`))
    return this.#queue.run(service, async () => {
      const podsBefore = (await this.replicas(service)).map((r) => r.id)
      const before = await this.current(service)
      if (before !== replicas)
        await this.#call(`PATCH deployments/${t.name}/scale`, () =>
          this.#apps.patchNamespacedDeploymentScale(
            { name: t.name, namespace: t.namespace, body: { spec: { replicas } } },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          ),
        )
      await this.#rollout(service, t)
      const podsAfter = (await this.replicas(service)).map((r) => r.id)
      return {
        service,
        before,
        after: replicas,
        started: podsAfter.filter((p) => !podsBefore.includes(p)),
        stopped: podsBefore.filter((p) => !podsAfter.includes(p)),
      }
    })
  }

  restart(service: string, _reason: string): Promise<RestartResult> {
    let t: DeploymentRef
    try {
      t = this.#target(service)
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#queue.run(service, async () => {
      const before = (await this.replicas(service)).map((r) => r.id)
      const body = {
        spec: { template: { metadata: { annotations: { [RESTARTED_AT]: new Date().toISOString() } } } },
      }
      await this.#call(`PATCH deployments/${t.name}`, () =>
        this.#apps.patchNamespacedDeployment(
          { name: t.name, namespace: t.namespace, body },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        ),
      )
      await this.#rollout(service, t)
      const after = (await this.replicas(service)).map((r) => r.id).filter((id) => !before.includes(id))
      return { service, replaced: before.map((from, i) => ({ from, to: after[i] ?? '' })) }
    })
  }

  /** Waits until the Deployment observed its newest spec and every replica is updated and ready. */
  async #rollout(service: string, t: DeploymentRef): Promise<void> {
    const deadline = Date.now() + t.timeoutMs
    for (;;) {
      const d: V1Deployment = await this.#call(`GET deployments/${t.name}`, () =>
        this.#apps.readNamespacedDeployment({ name: t.name, namespace: t.namespace }),
      )
      const want = d.spec?.replicas ?? 0
      const s = d.status ?? {}
      const done =
        (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
        (s.updatedReplicas ?? 0) === want &&
        (s.readyReplicas ?? 0) === want &&
        (s.replicas ?? 0) === want
      if (done) return
      if (Date.now() >= deadline)
        throw withFix(
          VGL_ERR_SCALE_UNHEALTHY(
            service,
            t.timeoutMs,
            `deployment ${t.namespace}/${t.name}: ${s.readyReplicas ?? 0} of ${want} ready, ${s.updatedReplicas ?? 0} updated`,
          ),
          `check why its pods are not ready (kubectl -n ${t.namespace} describe deployment ${t.name}; their readiness probe and logs), ` +
            `or raise services.${service}.scale.actuator.rolloutTimeoutMs (${t.timeoutMs} ms) if they need longer`,
        )
      await sleep(this.#o.pollMs ?? 1_000)
    }
  }

  async close(): Promise<void> {}
}
