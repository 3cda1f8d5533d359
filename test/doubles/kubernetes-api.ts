/**
 * @module A local HTTP double of the Kubernetes API server (the subset the kubernetes actuator
 * uses), written from the API reference for apps/v1 Deployment, autoscaling/v1 Scale and core/v1
 * Pod: `GET|PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}/scale`,
 * `GET|PATCH /apis/apps/v1/namespaces/{ns}/deployments/{name}`, `GET /api/v1/namespaces/{ns}/pods`
 * with `labelSelector`. PATCH takes `application/merge-patch+json`; a change of `spec` raises
 * `metadata.generation`. A tiny Deployment controller replaces pods after `podReadyMs`, surging
 * one at a time (maxSurge 1, maxUnavailable 0) on a template change. Bearer token required
 * (401 otherwise); errors are `Status` objects. No cluster runs on this machine; tests use this.
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'

interface Pod {
  name: string
  template: string
  createdMs: number
  startTime: string
}

interface Deployment {
  namespace: string
  name: string
  generation: number
  replicas: number
  annotations: Record<string, string>
  pods: Pod[]
}

export interface KubernetesDouble {
  url: string
  token: string
  deployments: Map<string, Deployment>
  log: string[]
  broken: boolean
  addDeployment(namespace: string, name: string, replicas: number): void
  close(): Promise<void>
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.statusCode = code
  res.setHeader('content-type', 'application/json')
  res.end(
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      code,
    }),
  )
}

export async function startKubernetesDouble(opts: { podReadyMs?: number } = {}): Promise<KubernetesDouble> {
  const token = randomBytes(12).toString('hex')
  const deployments = new Map<string, Deployment>()
  const log: string[] = []
  const state = { broken: false }
  const readyMs = opts.podReadyMs ?? 60
  const templateOf = (d: Deployment) => JSON.stringify(d.annotations)
  const newPod = (d: Deployment): Pod => ({
    name: `${d.name}-${randomBytes(5).toString('hex').slice(0, 10)}-${randomBytes(3).toString('hex').slice(0, 5)}`,
    template: templateOf(d),
    createdMs: Date.now(),
    startTime: new Date().toISOString(),
  })
  const isReady = (p: Pod) => Date.now() - p.createdMs >= readyMs
  /** one reconcile step, as the controller would take on each observation */
  const reconcile = (d: Deployment) => {
    const tpl = templateOf(d)
    const current = d.pods.filter((p) => p.template === tpl)
    const old = d.pods.filter((p) => p.template !== tpl)
    if (old.length > 0) {
      // rolling update, maxSurge 1 / maxUnavailable 0: one new pod, then drop one old once it is ready
      const surging = current.filter((p) => !isReady(p))
      if (surging.length === 0 && current.length < d.replicas) d.pods.push(newPod(d))
      else if (surging.length === 0) d.pods.splice(d.pods.indexOf(old[0]), 1)
      const readyNew = current.filter(isReady)
      if (readyNew.length > 0 && current.length + old.length > d.replicas)
        d.pods.splice(d.pods.indexOf(old[0]), 1)
      return
    }
    while (d.pods.length < d.replicas) d.pods.push(newPod(d))
    if (d.pods.length > d.replicas) d.pods.splice(d.replicas)
  }
  const deploymentJson = (d: Deployment) => {
    reconcile(d)
    const tpl = templateOf(d)
    const updated = d.pods.filter((p) => p.template === tpl)
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: d.name, namespace: d.namespace, generation: d.generation },
      spec: {
        replicas: d.replicas,
        selector: { matchLabels: { app: d.name } },
        template: {
          metadata: { labels: { app: d.name }, annotations: d.annotations },
          spec: { containers: [{ name: d.name, image: `${d.name}:1` }] },
        },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      },
      status: {
        observedGeneration: d.generation,
        replicas: d.pods.length,
        updatedReplicas: updated.length,
        readyReplicas: d.pods.filter(isReady).length,
        availableReplicas: d.pods.filter(isReady).length,
      },
    }
  }
  const scaleJson = (d: Deployment) => ({
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name: d.name, namespace: d.namespace },
    spec: { replicas: d.replicas },
    status: { replicas: d.pods.length, selector: `app=${d.name}` },
  })
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://k8s')
      log.push(`${req.method} ${url.pathname} ${req.headers['content-type'] ?? ''}`.trim())
      if (req.headers.authorization !== `Bearer ${token}`)
        return status(res, 401, 'Unauthorized', 'Unauthorized')
      if (state.broken) return status(res, 500, 'InternalError', 'the double is broken on purpose')
      let text = ''
      for await (const chunk of req) text += chunk
      const send = (body: unknown) => {
        res.setHeader('content-type', 'application/json')
        res.end(JSON.stringify(body))
      }
      const pods = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname)
      if (pods && req.method === 'GET') {
        const sel = url.searchParams.get('labelSelector') ?? ''
        const items = [...deployments.values()]
          .filter((d) => d.namespace === pods[1] && (sel === '' || sel === `app=${d.name}`))
          .flatMap((d) => (reconcile(d), d.pods.map((p) => ({ d, p }))))
          .map(({ d, p }) => ({
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: p.name, namespace: d.namespace, labels: { app: d.name } },
            status: {
              phase: 'Running',
              startTime: p.startTime,
              conditions: [{ type: 'Ready', status: isReady(p) ? 'True' : 'False' }],
            },
          }))
        return send({ apiVersion: 'v1', kind: 'PodList', metadata: {}, items })
      }
      const m = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)(\/scale)?$/.exec(url.pathname)
      if (!m) return status(res, 404, 'NotFound', `the server could not find the requested resource`)
      const d = deployments.get(`${m[1]}/${m[2]}`)
      if (d === undefined) return status(res, 404, 'NotFound', `deployments.apps "${m[2]}" not found`)
      if (req.method === 'PATCH') {
        if (req.headers['content-type'] !== 'application/merge-patch+json')
          return status(res, 415, 'UnsupportedMediaType', `the body of the request was in an unknown format`)
        const body = JSON.parse(text) as {
          spec?: { replicas?: number; template?: { metadata?: { annotations?: Record<string, string> } } }
        }
        if (body.spec?.replicas !== undefined) {
          if (!Number.isInteger(body.spec.replicas) || body.spec.replicas < 0)
            return status(res, 422, 'Invalid', `spec.replicas: Invalid value: ${body.spec.replicas}`)
          if (body.spec.replicas !== d.replicas) d.generation++
          d.replicas = body.spec.replicas
        }
        const ann = body.spec?.template?.metadata?.annotations
        if (ann !== undefined) {
          d.annotations = { ...d.annotations, ...ann }
          d.generation++
        }
      } else if (req.method !== 'GET') return status(res, 405, 'MethodNotAllowed', 'method not allowed')
      return send(m[3] !== undefined ? scaleJson(d) : deploymentJson(d))
    })().catch((err: Error) => status(res, 500, 'InternalError', err.message))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    deployments,
    log,
    get broken() {
      return state.broken
    },
    set broken(v: boolean) {
      state.broken = v
    },
    addDeployment(namespace, name, replicas) {
      const d: Deployment = { namespace, name, generation: 1, replicas, annotations: {}, pods: [] }
      reconcile(d)
      for (const p of d.pods) p.createdMs -= readyMs
      deployments.set(`${namespace}/${name}`, d)
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}
