/**
 * @module Closing an HTTP server without waiting out keep-alive. Node's `server.close()` closes the
 * connections idle at that moment only: one whose request is in flight stays open for the
 * server's keepAliveTimeout after its answer (65 s for the OTLP receiver, 72 s for Fastify).
 */
import type { Server } from 'node:http'

/** How long a close waits for the requests in flight to be answered before it cuts them. */
export const CLOSE_DRAIN_MS = 5_000

/**
 * Runs `close` (which calls `server.close()` and resolves when it is done) while closing idle
 * connections as the answers in flight go out, and cuts what is left after `drainMs`.
 */
export async function closeDraining(
  server: Server,
  close: () => Promise<void>,
  drainMs = CLOSE_DRAIN_MS,
): Promise<void> {
  const sweep = setInterval(() => server.closeIdleConnections(), 50)
  const cut = setTimeout(() => server.closeAllConnections(), drainMs)
  try {
    const closed = close()
    server.closeIdleConnections()
    await closed
  } finally {
    clearInterval(sweep)
    clearTimeout(cut)
  }
}
