import { describe, expect, it } from 'vitest'
import { actuatorContract } from '../actuator.contract.js'
import { ProcessActuator } from './process.js'

// A replica: an HTTP server on $PORT whose /health answers HEALTH (default 200).
const SERVER = `
const http = require('node:http')
const status = Number(process.env.HEALTH ?? 200)
const srv = http.createServer((req, res) => { res.statusCode = req.url === '/health' ? status : 200; res.end(process.env.PORT) })
srv.listen(Number(process.argv[1]), '127.0.0.1')
process.on('SIGTERM', () => srv.close(() => process.exit(0)))
`

function recordingPool() {
  const calls: { service: string; urls: string[] | null }[] = []
  return {
    calls,
    setTargets: async (service: string, urls: readonly string[] | null) =>
      void calls.push({ service, urls: urls === null ? null : [...urls] }),
  }
}

const answers = async (url: string) => {
  try {
    return (await fetch(`${url}/x`)).ok
  } catch {
    return false
  }
}

actuatorContract('process', async ({ broken }) => {
  const actuator = new ProcessActuator({
    pool: recordingPool(),
    services: {
      orders: {
        command: broken ? ['/nonexistent/vigil-replica'] : [process.execPath, '-e', SERVER, '$PORT'],
        healthIntervalMs: 50,
        stopGraceMs: 2_000,
      },
    },
  })
  return { actuator, service: 'orders', close: () => actuator.close() }
})

describe('ProcessActuator', () => {
  it('adds a replica to the pool only once healthy, and removes it before stopping it', async () => {
    const pool = recordingPool()
    const a = new ProcessActuator({
      pool,
      services: { orders: { command: [process.execPath, '-e', SERVER, '${PORT}'], healthIntervalMs: 50 } },
    })
    try {
      await a.scaleTo('orders', 2, 'test')
      expect(pool.calls).toHaveLength(1)
      const urls = pool.calls[0].urls!
      expect(urls).toHaveLength(2)
      for (const u of urls) expect(await (await fetch(`${u}/x`)).text()).toBe(new URL(u).port)
      await a.scaleTo('orders', 1, 'test')
      expect(pool.calls[1].urls).toEqual([urls[0]])
      // the removed replica is stopped
      await expect(fetch(`${urls[1]}/x`)).rejects.toThrow()
    } finally {
      await a.close()
    }
  }, 30_000)

  it('close gives the service back its configured targets, and stops the replicas only once that drained', async () => {
    let release = () => {}
    const seen: { urls: string[] | null; upWhileDraining: boolean[] }[] = []
    let replicas: string[] = []
    const a = new ProcessActuator({
      pool: {
        setTargets: async (_service, urls) => {
          if (urls !== null) return void (replicas = [...urls])
          // the gateways still send to the replicas until their requests finished
          seen.push({ urls, upWhileDraining: await Promise.all(replicas.map(answers)) })
          await new Promise<void>((ok) => (release = ok))
        },
      },
      services: {
        orders: { command: [process.execPath, '-e', SERVER, '$PORT'], healthIntervalMs: 50 },
        idle: { command: [process.execPath, '-e', SERVER, '$PORT'], healthIntervalMs: 50 },
      },
    })
    await a.scaleTo('orders', 2, 'test')
    expect(replicas).toHaveLength(2)
    let closed = false
    const closing = a.close().then(() => (closed = true))
    await new Promise((ok) => setTimeout(ok, 300))
    // only the service with replicas is handed back, and nothing is stopped yet
    expect(seen).toEqual([{ urls: null, upWhileDraining: [true, true] }])
    expect(closed).toBe(false)
    expect(await Promise.all(replicas.map(answers))).toEqual([true, true])
    release()
    await closing
    expect(await Promise.all(replicas.map(answers))).toEqual([false, false])
    expect(await a.current('orders')).toBe(0)
  }, 30_000)

  it('close stops the replicas even when the pool cannot take them out, and says why', async () => {
    const lines: string[] = []
    let replicas: string[] = []
    const a = new ProcessActuator({
      pool: {
        setTargets: async (_service, urls) => {
          if (urls === null) throw new Error('the bus is closed')
          replicas = [...urls]
        },
      },
      services: { orders: { command: [process.execPath, '-e', SERVER, '$PORT'], healthIntervalMs: 50 } },
      onOutput: (service, _id, line) => lines.push(`${service}: ${line}`),
    })
    await a.scaleTo('orders', 1, 'test')
    await a.close()
    expect(await answers(replicas[0])).toBe(false)
    expect(lines).toContain('orders: configured targets not restored: the bus is closed')
  }, 30_000)

  it('rolls back a replica that never becomes healthy: stopped, never pooled', async () => {
    const pool = recordingPool()
    const a = new ProcessActuator({
      pool,
      services: {
        orders: {
          command: [process.execPath, '-e', SERVER, '$PORT'],
          env: { HEALTH: '503' },
          startTimeoutMs: 600,
          healthIntervalMs: 50,
        },
      },
    })
    try {
      const err = await a.scaleTo('orders', 1, 'test').catch((e: { code: string; message: string }) => e)
      expect((err as { code: string }).code).toBe('VGL_ERR_SCALE_UNHEALTHY')
      expect((err as { message: string }).message).toMatch(
        /did not become healthy within 600 ms .*never answered 2xx/,
      )
      expect(pool.calls).toHaveLength(0)
      expect(await a.current('orders')).toBe(0)
    } finally {
      await a.close()
    }
  }, 30_000)

  it('names a command that exits before it is healthy', async () => {
    const a = new ProcessActuator({
      pool: recordingPool(),
      services: {
        orders: { command: [process.execPath, '-e', 'console.error("boom: no config"); process.exit(3)'] },
      },
    })
    const err = (await a.scaleTo('orders', 1, 'test').catch((e: unknown) => e)) as {
      code: string
      message: string
    }
    expect(err.code).toBe('VGL_ERR_SCALE_ACTUATOR')
    expect(err.message).toMatch(/exited with 3 before it was healthy: boom: no config/)
    await a.close()
  }, 30_000)
})
