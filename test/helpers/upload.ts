/**
 * @module A client that uploads a whole chunked body before it reads the answer, as most HTTP
 * clients do: an answer the server sent early is still unread in the kernel when the upload ends,
 * so a server that resets the connection under the upload loses it.
 */
import { connect } from 'node:net'

export interface UploadResult {
  /** body bytes the client could write before the upload ended or failed */
  sent: number
  /** the socket's error code (EPIPE, ECONNRESET), or null */
  error: string | null
  /** everything read once the upload was over */
  answer: string
  /** the status of the answer's final head (after any 100 Continue), or null */
  status: number | null
}

export interface UploadOptions {
  path: string
  headers?: Record<string, string>
  /** body bytes to send, in `chunkBytes` chunks; default 3 MiB */
  totalBytes?: number
  /** default 64 KiB */
  chunkBytes?: number
  /** pause between chunks, so the server answers while the upload goes on; default 2 ms */
  pauseMs?: number
  /**
   * read the answer as it comes, as curl does, rather than after the upload: a server that stops
   * reading a refused body and resets the connection cannot lose an answer already read
   */
  readWhileUploading?: boolean
}

/** POSTs a chunked body of `totalBytes` to `port`, reading nothing until the upload is over (by default). */
export async function uploadThenRead(port: number, opts: UploadOptions): Promise<UploadResult> {
  const total = opts.totalBytes ?? 3 * 1024 * 1024
  const size = opts.chunkBytes ?? 64 * 1024
  const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
  let error: string | null = null
  s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message))
  const closed = new Promise<void>((r) => s.once('close', () => r()))
  let answer = ''
  if (opts.readWhileUploading !== true) s.pause()
  s.on('data', (d: Buffer) => (answer += d.toString('latin1')))
  const head = Object.entries({ host: 'vigil', 'transfer-encoding': 'chunked', ...opts.headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')
  s.write(`POST ${opts.path} HTTP/1.1\r\n${head}\r\n`)
  const frame = Buffer.concat([
    Buffer.from(`${size.toString(16)}\r\n`),
    Buffer.alloc(size, 0x20),
    Buffer.from('\r\n'),
  ])
  let sent = 0
  while (sent < total && !s.destroyed) {
    if (!s.write(frame)) await Promise.race([new Promise((r) => s.once('drain', r)), closed])
    if (s.destroyed) break
    sent += size
    await new Promise((r) => setTimeout(r, opts.pauseMs ?? 2))
  }
  if (!s.destroyed) s.end('0\r\n\r\n')
  s.resume()
  // a server that keeps the connection would never close it: the answer is what was read by then
  const idle = setTimeout(() => s.destroy(), 10_000)
  await closed
  clearTimeout(idle)
  const heads = [...answer.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]))
  return { sent, error, answer, status: heads.filter((h) => h !== 100).at(-1) ?? null }
}
