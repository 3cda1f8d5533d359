import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { LiveHub } from '../live.js'
import { buildAdminApp } from '../server.js'
import type { AdminSources } from '../sources.js'
import { uiAssetsRoutes } from '../ui-assets.js'
import { dashboardRoutes } from './dashboard.js'

const sources: AdminSources = {
  ready: () => true,
  routes: () => [],
  services: () => [],
  reload: async () => ({ ok: true, routes: 0 }),
}
const info = { mode: 'embedded', env: 'test', windowMs: 10_000, version: '0.0.0' }
const apps: FastifyInstance[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

async function build(token: string, state = { n: 1 }, reload = false) {
  const hub = new LiveHub({ intervalMs: 50, sections: { n: { kind: 'value', read: () => state.n } } })
  const app = await buildAdminApp({
    token,
    env: {},
    sources,
    plugins: [dashboardRoutes({ hub, token, info, reload })],
  })
  apps.push(app)
  return { app, hub }
}

/** Reads SSE frames from a live response until `until` says stop. */
async function readFrames(res: Response, until: (frames: string[]) => boolean): Promise<string[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buf += value
    const frames = buf.split('\n\n').filter((f) => f.startsWith('id:'))
    if (until(frames)) {
      await reader.cancel()
      return frames
    }
  }
  return buf.split('\n\n').filter((f) => f.startsWith('id:'))
}

describe('dashboard session and live feed', () => {
  it('offers the reload feature only where the config can be reloaded (not in vigil control)', async () => {
    const auth = { authorization: 'Bearer s3cret' }
    const { app: reloads } = await build('s3cret', { n: 1 }, true)
    const here = (await reloads.inject({ url: '/api/session', headers: auth })).json() as {
      features: string[]
    }
    expect(here.features).toContain('reload')
    const { app: once } = await build('s3cret')
    const session = (await once.inject({ url: '/api/session', headers: auth })).json() as {
      features: string[]
    }
    expect(session.features).not.toContain('reload')
  })

  it('needs the token even to read: 401 without or with a wrong one, 403 with none configured', async () => {
    const { app } = await build('s3cret')
    const none = await app.inject('/api/session')
    expect(none.statusCode).toBe(401)
    expect(none.json()).toMatchObject({ code: 'VGL_ERR_API_UNAUTHORIZED' })
    expect(none.body).not.toMatch(/features/)
    const wrong = await app.inject({ url: '/api/live', headers: { authorization: 'Bearer nope' } })
    expect(wrong.statusCode).toBe(401)
    expect(wrong.headers['content-type']).toMatch(/problem\+json/)
    const ok = await app.inject({ url: '/api/session', headers: { authorization: 'Bearer s3cret' } })
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toMatchObject({ ok: true, mode: 'embedded', env: 'test', features: [] })

    const { app: open } = await build('')
    const refused = await open.inject({ url: '/api/session', headers: { authorization: 'Bearer x' } })
    expect(refused.statusCode).toBe(403)
    expect(refused.json()).toMatchObject({ code: 'VGL_ERR_API_NO_TOKEN' })
  })

  /** The session's features on a server with the tiers and forecast routes. */
  async function features(off?: readonly string[]): Promise<string[]> {
    const hub = new LiveHub({ sections: {} })
    const app = await buildAdminApp({
      token: 't0k3n',
      env: {},
      sources,
      plugins: [
        async (a) => {
          a.get('/api/limits/tiers', async () => ({}))
          a.get('/api/series/:key/forecast', async () => ({}))
        },
        dashboardRoutes({ hub, token: 't0k3n', info, ...(off !== undefined ? { off } : {}) }),
      ],
    })
    apps.push(app)
    const res = await app.inject({ url: '/api/session', headers: { authorization: 'Bearer t0k3n' } })
    return (res.json() as { features: string[] }).features.sort()
  }

  it('offers the pages whose routes are registered', async () => {
    expect(await features()).toEqual(['forecasts', 'limits'])
  })

  it('leaves out a feature the config turns off though its route answers', async () => {
    // an unknown name and a feature whose route is absent change nothing else
    expect(await features(['forecasts', 'journeys', 'nonsense'])).toEqual(['limits'])
    expect(await features([])).toEqual(['forecasts', 'limits'])
  })

  it('streams a snapshot then deltas; resumes with Last-Event-ID; close() ends open streams', async () => {
    const state = { n: 1 }
    const { app } = await build('s3cret', state)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const addr = app.server.address() as { port: number }
    const url = `http://127.0.0.1:${addr.port}/api/live`
    const auth = { authorization: 'Bearer s3cret' }
    const res = await fetch(url, { headers: auth })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    setTimeout(() => (state.n = 2), 100)
    const frames = await readFrames(res, (f) => f.length >= 2)
    expect(frames[0]).toMatch(/^id: \w+-\d+\nevent: snapshot\ndata: .*"set":\{"n":1\}/)
    expect(frames[1]).toMatch(/event: delta\ndata: .*"set":\{"n":2\}/)
    const firstId = /^id: (\S+)/.exec(frames[0])![1]

    // resume after the snapshot: the delta is replayed, no second snapshot
    const again = await fetch(url, { headers: { ...auth, 'last-event-id': firstId } })
    const replay = await readFrames(again, (f) => f.length >= 1)
    expect(replay[0]).toMatch(/event: delta\ndata: .*"set":\{"n":2\}/)

    // closing the server ends every open stream at once (it never waits for a dashboard to leave)
    const open = await fetch(url, { headers: auth })
    expect(open.status).toBe(200)
    const reader = open.body!.getReader()
    await reader.read()
    const t = Date.now()
    const closing = app.close()
    for (;;) if ((await reader.read()).done) break
    expect(Date.now() - t).toBeLessThan(1_000)
    await closing
  })
})

describe('dashboard assets', () => {
  function fakeBuild(): string {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-ui-'))
    mkdirSync(join(dir, 'assets'))
    writeFileSync(
      join(dir, 'index.html'),
      '<!doctype html><title>Vigil</title><script src="./assets/app-1a2b.js"></script>',
    )
    writeFileSync(join(dir, 'assets', 'app-1a2b.js'), `console.log(${JSON.stringify('x'.repeat(4000))})`)
    return dir
  }

  it('serves the page (revalidated, CSP) and hashed bundles (immutable, compressed)', async () => {
    const app = await buildAdminApp({
      token: 't',
      env: {},
      sources,
      plugins: [uiAssetsRoutes({ dir: fakeBuild() })],
    })
    apps.push(app)
    const page = await app.inject('/')
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html/)
    expect(page.headers['cache-control']).toBe('no-cache')
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'/)
    const etag = page.headers.etag as string
    expect((await app.inject({ url: '/', headers: { 'if-none-match': etag } })).statusCode).toBe(304)

    const br = await app.inject({ url: '/assets/app-1a2b.js', headers: { 'accept-encoding': 'gzip, br' } })
    expect(br.headers['content-encoding']).toBe('br')
    expect(br.headers['cache-control']).toMatch(/immutable/)
    expect(brotliDecompressSync(br.rawPayload).toString()).toMatch(/^console\.log/)
    const gz = await app.inject({ url: '/assets/app-1a2b.js', headers: { 'accept-encoding': 'gzip' } })
    expect(gunzipSync(gz.rawPayload).toString()).toMatch(/^console\.log/)
    const plain = await app.inject('/assets/app-1a2b.js')
    expect(plain.headers['content-encoding']).toBeUndefined()
    expect(plain.body).toMatch(/^console\.log/)

    const missing = await app.inject('/assets/nope.js')
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toMatchObject({ code: 'VGL_ERR_API_NOT_FOUND' })
    const traversal = await app.inject('/assets/..%2F..%2Fpackage.json')
    expect(traversal.statusCode).toBe(404)
  })

  it('says how to build it when it is not built', async () => {
    const app = await buildAdminApp({
      token: 't',
      env: {},
      sources,
      plugins: [uiAssetsRoutes({ dir: join(tmpdir(), 'vigil-ui-missing-dir') })],
    })
    apps.push(app)
    const res = await app.inject('/')
    expect(res.statusCode).toBe(503)
    expect(res.body).toMatch(/npm run build/)
  })
})
