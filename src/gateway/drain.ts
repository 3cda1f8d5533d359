/**
 * @module Whether an answer the gateway makes itself (a 429, 401, 404, 400 or an up-front 413)
 * may keep the client's connection. The request body has not been read; the connection can only
 * serve the next request once the body has been read past. Reading it costs less than a new TCP
 * (and TLS) handshake while it is small: up to `gateway.drainBodyBytes` it is drained (node:http
 * reads and drops a declared body after the response; a chunked body is counted here), beyond
 * that the answer carries `Connection: close`.
 */
import type { IncomingMessage } from 'node:http'
import { closeLingering } from '../http-linger.js'

/**
 * True when the refusal must close the connection: a declared body larger than `drainBytes`.
 * A chunked body of unknown length is drained while it stays within `drainBytes`; past that its
 * connection is closed (the answer has been sent by then), lingering: see src/http-linger.ts.
 */
export function refusalCloses(
  req: IncomingMessage,
  contentLength: number,
  chunked: boolean,
  drainBytes: number,
): boolean {
  if (chunked) {
    if (drainBytes === 0) return true
    let seen = 0
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length
      // a reset here could lose the answer in a client that reads it after its upload
      if (seen > drainBytes) closeLingering(req)
    })
    return false
  }
  return contentLength > drainBytes
}
