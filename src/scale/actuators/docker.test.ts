import { describe, expect, it } from 'vitest'
import { startDockerDouble } from '../../../test/doubles/docker-engine.js'
import { actuatorContract } from '../actuator.contract.js'
import { DockerActuator } from './docker.js'

const noPool = { setTargets: async () => {} }

actuatorContract('docker (Engine API double)', async ({ broken }) => {
  const double = await startDockerDouble({ healthyAfterMs: 50 })
  double.broken = broken === true
  const actuator = new DockerActuator({
    pool: noPool,
    pollMs: 20,
    docker: { protocol: 'http', host: double.host, port: double.port },
    services: { orders: { image: 'vigil/mock:1', network: 'vigil', stopTimeoutSec: 1 } },
  })
  return { actuator, service: 'orders', close: () => double.close() }
})

describe('DockerActuator', () => {
  it('creates labelled containers on the network and pools them at their network address once healthy', async () => {
    const double = await startDockerDouble({ healthyAfterMs: 50 })
    const calls: string[][] = []
    const a = new DockerActuator({
      pool: { setTargets: async (_s, urls) => void calls.push([...(urls ?? [])]) },
      pollMs: 20,
      docker: { protocol: 'http', host: double.host, port: double.port },
      services: {
        orders: { image: 'vigil/mock:1', network: 'vigil', containerPort: 9001, env: { MODE: 'x' } },
      },
    })
    try {
      await a.scaleTo('orders', 2, 'test')
      const cs = [...double.containers.values()]
      expect(cs).toHaveLength(2)
      for (const c of cs) {
        expect(c.Labels).toEqual({ 'vigil.managed': 'true', 'vigil.service': 'orders' })
        expect(c.network).toBe('vigil')
        expect(c.Env).toEqual(expect.arrayContaining(['MODE=x', 'PORT=9001']))
      }
      // pooled in the order the containers became healthy, not the order they were created
      expect(calls.map((urls) => [...urls].sort())).toEqual([cs.map((c) => `http://${c.ip}:9001`).sort()])
      expect(double.log).toContain('POST /containers/create')
      await a.scaleTo('orders', 0, 'test')
      expect(double.containers.size).toBe(0)
      expect(calls[1]).toEqual([])
    } finally {
      await double.close()
    }
  })

  it('removes a container that turns unhealthy and never pools it', async () => {
    const double = await startDockerDouble({ healthyAfterMs: 30 })
    const calls: string[][] = []
    const a = new DockerActuator({
      pool: { setTargets: async (_s, urls) => void calls.push([...(urls ?? [])]) },
      pollMs: 20,
      docker: { protocol: 'http', host: double.host, port: double.port },
      services: { orders: { image: 'vigil/mock:unhealthy' } },
    })
    try {
      const err = (await a.scaleTo('orders', 1, 'test').catch((e: unknown) => e)) as {
        code: string
        message: string
      }
      expect(err.code).toBe('VGL_ERR_SCALE_UNHEALTHY')
      expect(err.message).toMatch(/health unhealthy/)
      expect(double.containers.size).toBe(0)
      expect(calls).toEqual([])
    } finally {
      await double.close()
    }
  })

  it('names the API call and status of a failure', async () => {
    const double = await startDockerDouble()
    const a = new DockerActuator({
      pool: noPool,
      docker: { protocol: 'http', host: double.host, port: double.port },
      services: { orders: { image: 'missing/image:1' } },
    })
    try {
      const err = (await a.scaleTo('orders', 1, 'test').catch((e: unknown) => e)) as { message: string }
      expect(err.message).toMatch(
        /docker actuator failed: POST \/containers\/create: HTTP 404 No such image: missing\/image:1/,
      )
    } finally {
      await double.close()
    }
  })
})
