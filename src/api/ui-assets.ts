/**
 * @module The dashboard's static files (the Vite build in `dist/ui`), served by the admin server:
 * `GET /` is the page, `GET /assets/*` the hashed bundles. The build is a handful of small files,
 * so they are read once at start, compressed once (brotli and gzip) and answered from memory;
 * hashed assets are cached by the browser for a year, the page is revalidated by ETag. Nothing is
 * fetched from anywhere at run time.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
}
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.map'])

interface Asset {
  type: string
  etag: string
  raw: Buffer
  br: Buffer | null
  gzip: Buffer | null
  immutable: boolean
}

/**
 * The built dashboard's folder. Compiled, this module is `dist/api/ui-assets.js` and the build
 * is `dist/ui`; under a TypeScript test runner it is `src/api/ui-assets.ts` and the build is
 * still `dist/ui`.
 */
export function defaultUiDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url))
  return import.meta.url.endsWith('.ts') ? join(here, '..', '..', 'dist', 'ui') : join(here, '..', 'ui')
}

/** Reads and compresses every file of the build; an empty map when it is not built. */
export function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>()
  if (!existsSync(join(dir, 'index.html'))) return out
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name)
      if (statSync(full).isDirectory()) {
        walk(full)
        continue
      }
      const ext = extname(name)
      const raw = readFileSync(full)
      const path = `/${relative(dir, full).split(sep).join('/')}`
      const small = raw.length < 512 || !COMPRESSIBLE.has(ext)
      out.set(path, {
        type: TYPES[ext] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(raw).digest('base64url').slice(0, 22)}"`,
        raw,
        br: small ? null : brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
        gzip: small ? null : gzipSync(raw, { level: 9 }),
        immutable: path.startsWith('/assets/'),
      })
    }
  }
  walk(dir)
  return out
}

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Vigil</title>
<p>The dashboard is not built. Run <code>npm run build</code> (it runs on <code>npm ci</code>) and restart Vigil.</p>`

function send(req: FastifyRequest, reply: FastifyReply, a: Asset): FastifyReply {
  void reply
    .header('content-type', a.type)
    .header('etag', a.etag)
    .header('vary', 'accept-encoding')
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
  if (a.type.startsWith('text/html'))
    // the page loads only its own bundles and talks only to this server
    void reply
      .header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      )
      .header('referrer-policy', 'no-referrer')
  if (req.headers['if-none-match'] === a.etag) return reply.code(304).send()
  const accept = String(req.headers['accept-encoding'] ?? '')
  if (a.br !== null && /\bbr\b/.test(accept)) return reply.header('content-encoding', 'br').send(a.br)
  if (a.gzip !== null && /\bgzip\b/.test(accept)) return reply.header('content-encoding', 'gzip').send(a.gzip)
  return reply.send(a.raw)
}

export interface UiAssetsOptions {
  /** the Vite build; default {@link defaultUiDir} */
  dir?: string
}

/**
 * Serves the dashboard at `/` and its bundles at `/assets/*` (open: the page holds no data; the
 * data needs the admin token).
 */
export function uiAssetsRoutes(opts: UiAssetsOptions = {}): FastifyPluginAsync {
  const assets = loadAssets(opts.dir ?? defaultUiDir())
  return async function uiAssetsPlugin(app) {
    const index = assets.get('/index.html')
    const page = (req: FastifyRequest, reply: FastifyReply) =>
      index !== undefined
        ? send(req, reply, index)
        : reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT)
    app.get('/', { schema: { hide: true } }, page)
    app.get('/index.html', { schema: { hide: true } }, page)
    app.get<{ Params: { '*': string } }>('/assets/*', { schema: { hide: true } }, (req, reply) => {
      const a = assets.get(`/assets/${req.params['*']}`)
      if (a === undefined) return reply.callNotFound()
      return send(req, reply, a)
    })
    for (const [path, a] of assets)
      if (!path.startsWith('/assets/') && path !== '/index.html')
        app.get(path, { schema: { hide: true } }, (req, reply) => send(req, reply, a))
  }
}
