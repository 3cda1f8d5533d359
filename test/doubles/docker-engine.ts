/**
 * @module A local HTTP double of the Docker Engine API (the subset the docker actuator uses),
 * written from the Engine API reference (v1.43+): `GET /_ping`, `GET /containers/json` with
 * `filters` (label, status), `POST /containers/create`, `POST /containers/{id}/start`,
 * `GET /containers/{id}/json`, `POST /containers/{id}/stop`, `DELETE /containers/{id}`, with or
 * without a `/v1.xx` prefix. Errors are `{ "message": ... }` with the API's status codes. A
 * container whose image has a health check (`health: true`) reports `State.Health.Status`
 * `starting`, then `healthy` after `healthyAfterMs` (`unhealthy` for images ending in
 * `:unhealthy`). No Docker daemon runs on this machine; tests use this instead.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'

export interface FakeContainer {
  Id: string
  Name: string
  Image: string
  Labels: Record<string, string>
  Env: string[]
  network: string
  ip: string
  created: number
  status: 'created' | 'running' | 'exited'
  startedAtMs: number
}

export interface DockerDouble {
  url: string
  host: string
  port: number
  containers: Map<string, FakeContainer>
  /** every request as `METHOD path` */
  log: string[]
  /** answer every request with 500 */
  broken: boolean
  close(): Promise<void>
}

export async function startDockerDouble(
  opts: { healthyAfterMs?: number; health?: boolean } = {},
): Promise<DockerDouble> {
  const containers = new Map<string, FakeContainer>()
  const log: string[] = []
  let nextIp = 2
  const state: { broken: boolean } = { broken: false }
  const healthOf = (c: FakeContainer) => {
    if (opts.health === false || c.status !== 'running') return undefined
    if (c.Image.endsWith(':unhealthy'))
      return Date.now() - c.startedAtMs >= (opts.healthyAfterMs ?? 100) ? 'unhealthy' : 'starting'
    return Date.now() - c.startedAtMs >= (opts.healthyAfterMs ?? 100) ? 'healthy' : 'starting'
  }
  const send = (res: ServerResponse, status: number, body?: unknown) => {
    res.statusCode = status
    if (body === undefined) return void res.end()
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(body))
  }
  const readJson = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
    let text = ''
    for await (const chunk of req) text += chunk
    return text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
  }
  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://docker')
      const path = url.pathname.replace(/^\/v1\.\d+/, '')
      log.push(`${req.method} ${path}`)
      if (state.broken)
        return send(res, 500, { message: 'Internal Server Error: the double is broken on purpose' })
      if (req.method === 'GET' && path === '/_ping') {
        res.setHeader('content-type', 'text/plain')
        return void res.end('OK')
      }
      if (req.method === 'GET' && path === '/containers/json') {
        const filters = JSON.parse(url.searchParams.get('filters') ?? '{}') as {
          label?: string[]
          status?: string[]
        }
        const all = url.searchParams.get('all') === 'true' || url.searchParams.get('all') === '1'
        const out = [...containers.values()].filter((c) => {
          if (
            filters.status !== undefined ? !filters.status.includes(c.status) : !all && c.status !== 'running'
          )
            return false
          return (filters.label ?? []).every((l) => {
            const [k, v] = l.split('=')
            return v === undefined ? k in c.Labels : c.Labels[k] === v
          })
        })
        return send(
          res,
          200,
          out.map((c) => {
            const h = healthOf(c)
            return {
              Id: c.Id,
              Names: [`/${c.Name}`],
              Image: c.Image,
              Created: c.created,
              Labels: c.Labels,
              State: c.status,
              Status:
                c.status === 'running'
                  ? `Up 1 second${h !== undefined ? ` (${h === 'starting' ? 'health: starting' : h})` : ''}`
                  : 'Created',
              NetworkSettings: { Networks: { [c.network]: { IPAddress: c.ip } } },
            }
          }),
        )
      }
      if (req.method === 'POST' && path === '/containers/create') {
        const body = await readJson(req)
        if (typeof body.Image !== 'string' || body.Image === '')
          return send(res, 400, { message: 'image is required' })
        if (body.Image.startsWith('missing/'))
          return send(res, 404, { message: `No such image: ${body.Image}` })
        const id = randomBytes(32).toString('hex')
        const network =
          ((body.HostConfig as { NetworkMode?: string } | undefined)?.NetworkMode ?? 'bridge') || 'bridge'
        const c: FakeContainer = {
          Id: id,
          Name: url.searchParams.get('name') ?? `c${id.slice(0, 8)}`,
          Image: body.Image,
          Labels: (body.Labels as Record<string, string>) ?? {},
          Env: (body.Env as string[]) ?? [],
          network,
          ip: `172.18.0.${nextIp++}`,
          created: Math.floor(Date.now() / 1000),
          status: 'created',
          startedAtMs: 0,
        }
        containers.set(id, c)
        return send(res, 201, { Id: id, Warnings: [] })
      }
      const m = /^\/containers\/([^/]+)(\/[a-z]+)?$/.exec(path)
      const c = m ? containers.get(m[1]) : undefined
      if (m && c === undefined) return send(res, 404, { message: `No such container: ${m[1]}` })
      if (c !== undefined && req.method === 'POST' && m![2] === '/start') {
        if (c.status === 'running') return send(res, 304)
        c.status = 'running'
        c.startedAtMs = Date.now()
        return send(res, 204)
      }
      if (c !== undefined && req.method === 'POST' && m![2] === '/stop') {
        if (c.status !== 'running') return send(res, 304)
        c.status = 'exited'
        return send(res, 204)
      }
      if (c !== undefined && req.method === 'GET' && m![2] === '/json') {
        const h = healthOf(c)
        return send(res, 200, {
          Id: c.Id,
          Name: `/${c.Name}`,
          Config: { Image: c.Image, Labels: c.Labels, Env: c.Env },
          State: {
            Status: c.status,
            Running: c.status === 'running',
            ExitCode: c.status === 'exited' ? 143 : 0,
            ...(h !== undefined
              ? { Health: { Status: h, FailingStreak: h === 'unhealthy' ? 3 : 0, Log: [] } }
              : {}),
          },
          NetworkSettings: { Networks: { [c.network]: { IPAddress: c.ip } } },
        })
      }
      if (c !== undefined && req.method === 'DELETE' && m![2] === undefined) {
        if (c.status === 'running' && url.searchParams.get('force') !== 'true')
          return send(res, 409, { message: 'You cannot remove a running container' })
        containers.delete(c.Id)
        return send(res, 204)
      }
      return send(res, 404, { message: `page not found: ${req.method} ${path}` })
    })().catch((err: Error) => send(res, 500, { message: err.message }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const double: DockerDouble = {
    url: `http://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    containers,
    log,
    get broken() {
      return state.broken
    },
    set broken(v: boolean) {
      state.broken = v
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
  return double
}
