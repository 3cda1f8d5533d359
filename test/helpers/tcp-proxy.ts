/**
 * @module A TCP proxy a test controls, to cut one process off from a shared service (Redis,
 * PostgreSQL) without stopping the service for everyone else. `cut()` resets every open
 * connection and stops listening (clients see ECONNRESET, then ECONNREFUSED, as when the service
 * dies); `restore()` listens again on the same port.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'

export interface TcpProxy {
  readonly port: number
  /** connections accepted since the start (a reconnect shows as one more) */
  readonly accepted: number
  cut(): Promise<void>
  restore(): Promise<void>
  close(): Promise<void>
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let accepted = 0
  const server: Server = createServer((client) => {
    accepted++
    const upstream = connect(target)
    sockets.add(client).add(upstream)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        resolve((server.address() as AddressInfo).port)
      })
    })
  const stop = async () => {
    if (!server.listening) return
    const closed = new Promise<void>((r) => server.close(() => r()))
    for (const s of sockets) s.resetAndDestroy()
    sockets.clear()
    await closed
  }
  const port = await listen(0)
  return {
    port,
    get accepted() {
      return accepted
    },
    cut: stop,
    restore: async () => {
      if (!server.listening) await listen(port)
    },
    close: stop,
  }
}
