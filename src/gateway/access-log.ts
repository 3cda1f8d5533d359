/**
 * @module Structured JSON access log (pino) written asynchronously through a pino destination
 * (buffered, never a sync write per request). Successful requests are sampled; errors (5xx,
 * timeouts, connect errors, client aborts) are always logged.
 */
import pino, { type Logger } from 'pino'
import type { GatewayConfig } from '../config/schema.js'
import type { Exchange } from './exchange.js'

export class AccessLog {
  readonly #logger: Logger
  readonly #sampleRate: number
  readonly #dest: AsyncDestination
  readonly #std: boolean

  constructor(cfg: GatewayConfig['accessLog']) {
    const d = cfg.destination
    const dest = pino.destination({
      dest: d === 'stdout' ? 1 : d === 'stderr' ? 2 : d,
      sync: false,
      minLength: 4096,
      mkdir: true,
    })
    this.#dest = dest as unknown as AsyncDestination
    this.#std = d === 'stdout' || d === 'stderr'
    this.#logger = pino({ base: null, messageKey: 'msg', timestamp: pino.stdTimeFunctions.isoTime }, dest)
    this.#sampleRate = cfg.sampleRate
  }

  write(ex: Exchange): void {
    const error = ex.status >= 500 || (ex.outcome !== 'ok' && ex.outcome !== 'limited')
    if (!error && (this.#sampleRate === 0 || (this.#sampleRate < 1 && Math.random() >= this.#sampleRate)))
      return
    this.#logger.info({
      type: 'access',
      requestId: ex.requestId,
      traceId: ex.traceId,
      route: ex.plan.name,
      service: ex.plan.service.name,
      method: ex.method,
      path: ex.path,
      target: ex.target,
      status: ex.status,
      outcome: ex.outcome,
      latencyMs: Math.round(ex.latencyMs * 1000) / 1000,
      attempts: ex.attempts,
      bytesIn: ex.bytesIn,
      bytesOut: ex.bytesOut,
    })
  }

  /** A request no route matched (no plan, so logged on its own). */
  writeNoRoute(requestId: string, method: string, path: string, latencyMs: number): void {
    this.#logger.info({
      type: 'access',
      requestId,
      route: null,
      method,
      path,
      status: 404,
      outcome: 'no_route',
      latencyMs: Math.round(latencyMs * 1000) / 1000,
      attempts: 0,
    })
  }

  /** Writes out everything buffered; a file destination is closed, stdout/stderr stay open. */
  async close(): Promise<void> {
    const dest = this.#dest
    if (dest.destroyed) return
    // A file opens asynchronously; lines written before that are buffered until it is ready.
    if (dest.fd < 0) await new Promise<void>((resolve) => dest.once('ready', () => resolve()))
    if (this.#std) {
      await new Promise<void>((resolve) => dest.flush(() => resolve()))
    } else {
      await new Promise<void>((resolve) => {
        dest.once('close', () => resolve())
        dest.end()
      })
    }
  }
}

/** The parts of pino's SonicBoom destination that closing needs. */
interface AsyncDestination {
  readonly fd: number
  readonly destroyed: boolean
  once(event: 'ready' | 'close', listener: () => void): void
  flush(cb: (err?: Error) => void): void
  end(): void
}
