/**
 * @module A scriptable upstream for gateway integration tests: a real HTTP server on 127.0.0.1
 * port 0 whose handler each test sets, counting hits; it can be stopped and restarted on the
 * same port to play a dead target. (`src/sim` mock services model realistic latency and
 * incidents; these tests need exact, scripted answers.)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, hit: number) => void

export interface SeenRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  /** the client's (the gateway's) source port: the same port means a reused connection */
  remotePort: number
}

export interface Upstream {
  readonly url: string
  readonly port: number
  /** requests received since start (or the last `reset`) */
  hits: number
  /** the last 1000 requests */
  seen: SeenRequest[]
  handler: UpstreamHandler
  /** open client connections (the gateway's pooled keep-alive sockets) */
  connections(): number
  reset(): void
  /** closes the listener and every connection: the target is now dead (connection refused) */
  stop(): Promise<void>
  /** listens again on the same port */
  restart(): Promise<void>
  close(): Promise<void>
}

/** Answers 200 with a small JSON echo of method, url and body length. */
export const echo: UpstreamHandler = (req, res) => {
  let bytes = 0
  req.on('data', (c: Buffer) => (bytes += c.length))
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, bodyBytes: bytes })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
}

export async function startUpstream(handler: UpstreamHandler = echo): Promise<Upstream> {
  let server: Server
  const sockets = new Set<Socket>()
  let port = 0
  const state: Upstream = {
    url: '',
    port: 0,
    hits: 0,
    seen: [],
    handler,
    connections: () => sockets.size,
    reset() {
      state.hits = 0
      state.seen = []
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      })
    },
    async restart() {
      await listen(port)
    },
    async close() {
      if (server.listening) await state.stop()
    },
  }
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server = createServer((req: IncomingMessage, res: ServerResponse) => {
        state.hits++
        state.seen.push({
          method: req.method!,
          url: req.url!,
          headers: req.headers,
          remotePort: req.socket.remotePort!,
        })
        if (state.seen.length > 1000) state.seen.shift()
        state.handler(req, res, state.hits)
      })
      server.keepAliveTimeout = 30_000
      server.on('connection', (s: Socket) => {
        sockets.add(s)
        s.on('close', () => sockets.delete(s))
      })
      server.once('error', reject)
      server.listen(p, '127.0.0.1', () => {
        port = (server.address() as AddressInfo).port
        resolve()
      })
    })
  await listen(0)
  Object.assign(state, { url: `http://127.0.0.1:${port}`, port })
  return state
}
