import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { uploadThenRead } from '../test/helpers/upload.js'
import { lingerOnClose, type LingerBounds } from './http-linger.js'

let server: Server | null = null
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise((r) => server?.close(r) ?? r(null))
  server = null
})

/** A server that refuses every upload at once with 413 and `Connection: close`, body unread. */
async function refusing(bounds: LingerBounds | null): Promise<number> {
  server = createServer((req, res) => {
    if (bounds !== null) lingerOnClose(req, bounds)
    res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' })
    res.end('too large')
  })
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r))
  return (server.address() as AddressInfo).port
}

describe('lingering close', () => {
  it('lets a client that reads after its upload read an answer sent while it was uploading', async () => {
    const port = await refusing({})
    const r = await uploadThenRead(port, { path: '/' })
    expect(r).toMatchObject({ error: null, sent: 3 * 1024 * 1024, status: 413 })
    expect(r.answer).toContain('too large')
  })

  it('without it, the same client meets a reset and reads nothing (why it exists)', async () => {
    const port = await refusing(null)
    const r = await uploadThenRead(port, { path: '/' })
    expect(r.error).toMatch(/^(EPIPE|ECONNRESET)$/)
    expect(r.status).toBeNull()
  })

  it('stops reading past maxBytes after the answer', async () => {
    const port = await refusing({ maxBytes: 256 * 1024 })
    const r = await uploadThenRead(port, { path: '/', totalBytes: 16 * 1024 * 1024, pauseMs: 1 })
    expect(r.error).toMatch(/^(EPIPE|ECONNRESET)$/)
    expect(r.sent).toBeLessThan(16 * 1024 * 1024)
  })

  it('stops waiting for the body after maxMs', async () => {
    const port = await refusing({ maxMs: 200 })
    const started = Date.now()
    // 48 chunks 50 ms apart would take 2.4 s
    const r = await uploadThenRead(port, { path: '/', pauseMs: 50 })
    expect(r.error).toMatch(/^(EPIPE|ECONNRESET)$/)
    expect(r.sent).toBeLessThan(3 * 1024 * 1024)
    expect(Date.now() - started).toBeLessThan(2_000)
  })
})
