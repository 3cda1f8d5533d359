/**
 * @module Closing a connection whose request body is still arriving without losing the answer
 * ("lingering close", RFC 9112 §9.6). A server that closes its socket while the client is still
 * uploading makes its kernel answer the next bytes with a reset, and the reset makes the client's
 * kernel drop what it had received but not yet read: a client that reads the answer after its
 * upload (most do) sees ECONNRESET or EPIPE instead of the 413 it was sent. So the answer goes out
 * with FIN, the rest of the body is read and dropped, and the socket closes once the body has
 * ended, or after a bound of bytes or time, whichever comes first.
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'

export interface LingerBounds {
  /** longest wait for the body to end after the answer; default {@link LINGER_MS} */
  maxMs?: number
  /** most bytes read and dropped after the answer; default {@link LINGER_BYTES} */
  maxBytes?: number
}

/** Long enough for a client on a slow link to finish a few MiB; a socket held no longer than this. */
export const LINGER_MS = 5_000
/** A body this much larger than what was read when the answer went out is not worth reading past. */
export const LINGER_BYTES = 16 * 1024 * 1024

/** How often the bytes read while lingering are checked against the bound. */
const CHECK_MS = 50

/**
 * Makes node:http's close after this request's answer a lingering one, when the answer closes the
 * connection (`Connection: close`) before the body has arrived. node:http closes with
 * `socket.destroySoon()` once the answer is written; that is the one call replaced. Nothing
 * changes for a request whose body has been read, or for an answer that keeps the connection.
 */
export function lingerOnClose(req: IncomingMessage, bounds: LingerBounds = {}): void {
  const socket = req.socket as Socket | null
  if (req.complete || socket === null || socket.destroyed) return
  const close = socket.destroySoon
  socket.destroySoon = function lingeringDestroySoon(this: Socket) {
    this.destroySoon = close
    if (req.complete) return close.call(this)
    linger(this, req, bounds)
  }
}

/**
 * Closes `req`'s connection now, its answer already sent, while its body is still arriving: FIN
 * after the answer, the rest of the body read and dropped within `bounds`, then the socket closed.
 */
export function closeLingering(req: IncomingMessage, bounds: LingerBounds = {}): void {
  const socket = req.socket as Socket | null
  if (socket === null || socket.destroyed) return
  if (req.complete) socket.destroySoon()
  else linger(socket, req, bounds)
}

/** Sends FIN after what is written, reads and drops the rest of `req`'s body, then destroys. */
function linger(socket: Socket, req: IncomingMessage, bounds: LingerBounds): void {
  const maxMs = bounds.maxMs ?? LINGER_MS
  const maxBytes = bounds.maxBytes ?? LINGER_BYTES
  socket.end()
  const from = socket.bytesRead
  const started = Date.now()
  const done = () => {
    clearInterval(check)
    req.off('end', done)
    socket.off('end', done)
    if (!socket.destroyed) socket.destroy()
  }
  // node:http's parser reads the socket itself (no 'data' events), but bytesRead still counts
  const check = setInterval(() => {
    if (socket.bytesRead - from > maxBytes || Date.now() - started >= maxMs) done()
  }, CHECK_MS)
  check.unref()
  socket.once('close', done)
  // the body ended, or the client stopped sending altogether: closing now resets nothing
  socket.once('end', done)
  req.once('end', done)
  // whoever read the body has stopped (a limit refused it): the rest flows to nowhere
  req.unpipe()
  req.removeAllListeners('data')
  req.resume()
}
