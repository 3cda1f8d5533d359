/**
 * @module Reachability of the real services integration tests need (Redis, PostgreSQL, NATS).
 * On a laptop without them the suite skips with one line saying why; under CI=true a missing
 * service fails the run instead, because CI must exercise the real thing.
 */
import { connect } from 'node:net'

export const SERVICES = {
  redis: { host: '127.0.0.1', port: 6379 },
  postgres: { host: '127.0.0.1', port: 5432 },
  nats: { host: '127.0.0.1', port: 4222 },
} as const

export type ServiceName = keyof typeof SERVICES

function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/**
 * Resolves true when the service answers. When it does not: under CI=true throws (the test
 * file fails); otherwise prints one line and resolves false so the caller can skip.
 * Use with vitest: `const up = await serviceAvailable('redis'); describe.skipIf(!up)(...)`.
 */
export async function serviceAvailable(name: ServiceName): Promise<boolean> {
  const { host, port } = SERVICES[name]
  if (await reachable(host, port)) return true
  const why = `${name} is not reachable at ${host}:${port}`
  if (process.env.CI === 'true') throw new Error(`${why}; CI=true requires it (start it in .ci/run)`)
  process.stderr.write(`skipping ${name} tests: ${why}\n`)
  return false
}
