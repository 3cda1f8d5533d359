import { KubeConfig } from '@kubernetes/client-node'
import { describe, expect, it } from 'vitest'
import { startKubernetesDouble, type KubernetesDouble } from '../../../test/doubles/kubernetes-api.js'
import { actuatorContract } from '../actuator.contract.js'
import { KubernetesActuator } from './kubernetes.js'

function kubeConfig(double: KubernetesDouble, token = double.token): KubeConfig {
  const kc = new KubeConfig()
  kc.loadFromOptions({
    clusters: [{ name: 'double', server: double.url, skipTLSVerify: true }],
    users: [{ name: 'vigil', token }],
    contexts: [{ name: 'double', cluster: 'double', user: 'vigil' }],
    currentContext: 'double',
  })
  return kc
}

actuatorContract('kubernetes (API server double)', async ({ broken }) => {
  const double = await startKubernetesDouble({ podReadyMs: 40 })
  double.addDeployment('prod', 'orders', 1)
  double.broken = broken === true
  const actuator = new KubernetesActuator({
    kubeConfig: kubeConfig(double),
    pollMs: 20,
    services: { orders: { namespace: 'prod', rolloutTimeoutMs: 10_000 } },
  })
  return { actuator, service: 'orders', close: () => double.close() }
})

describe('KubernetesActuator', () => {
  it('patches the scale subresource with a merge patch and waits for the rollout', async () => {
    const double = await startKubernetesDouble({ podReadyMs: 40 })
    double.addDeployment('prod', 'api', 2)
    const a = new KubernetesActuator({
      kubeConfig: kubeConfig(double),
      pollMs: 20,
      services: { orders: { namespace: 'prod', deployment: 'api' } },
    })
    try {
      expect(await a.current('orders')).toBe(2)
      const r = await a.scaleTo('orders', 5, 'test')
      expect(r).toMatchObject({ before: 2, after: 5 })
      expect(r.started).toHaveLength(3)
      expect(double.log).toContain(
        'PATCH /apis/apps/v1/namespaces/prod/deployments/api/scale application/merge-patch+json',
      )
      expect((await a.replicas('orders')).every((p) => p.ready && p.url === null)).toBe(true)
    } finally {
      await double.close()
    }
  })

  it('restarts by annotating the pod template, as kubectl rollout restart does', async () => {
    const double = await startKubernetesDouble({ podReadyMs: 30 })
    double.addDeployment('default', 'orders', 2)
    const a = new KubernetesActuator({ kubeConfig: kubeConfig(double), pollMs: 15, services: { orders: {} } })
    try {
      await a.restart('orders', 'test')
      expect(
        double.deployments.get('default/orders')!.annotations['kubectl.kubernetes.io/restartedAt'],
      ).toMatch(/^\d{4}-/)
      expect(double.log).toContain(
        'PATCH /apis/apps/v1/namespaces/default/deployments/orders application/merge-patch+json',
      )
    } finally {
      await double.close()
    }
  })

  it('reports a rejected token and a missing deployment with the API message', async () => {
    const double = await startKubernetesDouble()
    double.addDeployment('prod', 'orders', 1)
    try {
      const bad = new KubernetesActuator({
        kubeConfig: kubeConfig(double, 'wrong'),
        services: { orders: { namespace: 'prod' } },
      })
      const e1 = (await bad.current('orders').catch((e: unknown) => e)) as { code: string; message: string }
      expect(e1.code).toBe('VGL_ERR_SCALE_ACTUATOR')
      expect(e1.message).toMatch(/kubernetes actuator failed: GET deployments\/orders\/scale: HTTP 401/)
      const missing = new KubernetesActuator({
        kubeConfig: kubeConfig(double),
        services: { orders: { namespace: 'dev' } },
      })
      const e2 = (await missing.current('orders').catch((e: unknown) => e)) as { message: string }
      expect(e2.message).toMatch(/HTTP 404 .*deployments\.apps "orders" not found/)
    } finally {
      await double.close()
    }
  })
})
