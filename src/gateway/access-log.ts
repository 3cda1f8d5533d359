/**
 * @module Structured JSON access log: pino's line format (`level`, ISO `time`, then the fields)
 * written through pino's asynchronous destination (sonic-boom), with a serializer made for the
 * fixed access-log schema. Successful requests are sampled; errors (5xx, timeouts, connect
 * errors, client aborts) are always logged.
 *
 * Why not `logger.info(obj)` per request: pino's generic path walks the object, formats an ISO
 * time and hands each ~350-byte line to sonic-boom, whose `write` measures the byte length of its
 * growing buffer on every call; together that was about an eighth of the gateway's CPU per
 * request. Here a line is one template string (strings escaped only when they need it, the time
 * prefix reused within a second), lines are coalesced into ~16 KB chunks, and sonic-boom receives
 * one write per chunk. Larger chunks did not pay: 64 KB ones cost about 4 µs more CPU per request
 * in the gateway bench (Node copies a written string into a buffer of three bytes per character,
 * 192 KB there, likely past glibc's threshold for mapping and unmapping it on every write). A timer pushes a partial chunk out every `FLUSH_MS`, so a quiet gateway's
 * lines still appear promptly.
 *
 * `format: ecs` writes the same events as Elastic Common Schema JSON (`@timestamp`, `log.level`,
 * `ecs.version`, then `event`, `http`, `url`, `trace.id`, `span.id`, `service`, and Vigil's own
 * fields under `vigil`), one template as well; the choice is made once, not per request.
 *
 * What a crash can lose: the unflushed chunk (at most ~16 KB or `FLUSH_MS` of lines) plus what
 * sonic-boom has not written yet. A graceful stop (`close`) writes everything.
 */
import pino from 'pino'
import type { GatewayConfig } from '../config/schema.js'
import type { Exchange } from './exchange.js'

/** lines are handed to the destination once this many characters are pending */
const CHUNK_CHARS = 16_384
/** a partial chunk is handed over at least this often */
const FLUSH_MS = 250
/** pino's level number for `info` */
const INFO = 30

// Characters JSON strings must escape (quote, backslash, controls) and surrogates, which
// JSON.stringify escapes when unpaired; anything else is written as it is.
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be found
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/** A JSON string literal for `s`; the common case (nothing to escape) costs one regex test. */
export function jsonString(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`
}

/** Formats epoch milliseconds as pino's `isoTime` does, reusing the text up to the second. */
export class IsoClock {
  #second = -1
  #prefix = ''

  format(ms: number): string {
    const second = Math.floor(ms / 1000)
    if (second !== this.#second) {
      this.#second = second
      this.#prefix = new Date(second * 1000).toISOString().slice(0, 20) // YYYY-MM-DDTHH:MM:SS.
    }
    const frac = ms - second * 1000
    return `${this.#prefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`
  }
}

/** The ECS version the `ecs` lines follow. */
export const ECS_VERSION = '8.11.0'

/** Rounds to 1 µs, as logged (the rollup's sketch sees the same latency). */
const micros = (ms: number): number => Math.round(ms * 1000) / 1000

export class AccessLog {
  readonly #sampleRate: number
  readonly #dest: AsyncDestination
  readonly #std: boolean
  readonly #ecs: boolean
  readonly #clock = new IsoClock()
  readonly #timer: NodeJS.Timeout
  #pending = ''

  constructor(cfg: GatewayConfig['accessLog']) {
    const d = cfg.destination
    const dest = pino.destination({
      dest: d === 'stdout' ? 1 : d === 'stderr' ? 2 : d,
      sync: false,
      // Chunks arrive already coalesced: write each as soon as the previous write is done (1, not
      // 0: with 0 sonic-boom's flush() returns before queued chunks are written).
      minLength: 1,
      maxWrite: 4 * CHUNK_CHARS,
      mkdir: true,
    })
    this.#dest = dest as unknown as AsyncDestination
    this.#std = d === 'stdout' || d === 'stderr'
    this.#sampleRate = cfg.sampleRate
    this.#ecs = cfg.format === 'ecs'
    this.#timer = setInterval(() => this.#push(), FLUSH_MS)
    this.#timer.unref()
  }

  write(ex: Exchange): void {
    const error = ex.status >= 500 || (ex.outcome !== 'ok' && ex.outcome !== 'limited')
    if (!error && (this.#sampleRate === 0 || (this.#sampleRate < 1 && Math.random() >= this.#sampleRate)))
      return
    const plan = ex.plan
    if (this.#ecs) return this.#line(this.#ecsLine(ex, error))
    this.#line(
      `{"level":${INFO},"time":"${this.#clock.format(Date.now())}","type":"access","requestId":${jsonString(ex.requestId)},"traceId":"${ex.traceId}","route":${jsonString(plan.name)},"service":${jsonString(plan.service.name)},"method":${jsonString(ex.method)},"path":${jsonString(ex.path)},"target":${jsonString(ex.target)},"status":${ex.status},"outcome":"${ex.outcome}","latencyMs":${micros(ex.latencyMs)},"attempts":${ex.attempts},"bytesIn":${ex.bytesIn},"bytesOut":${ex.bytesOut}}\n`,
    )
  }

  /** A request refused before routing (no route: 404; a path it will not route: 400), logged on its own. */
  writeUnrouted(requestId: string, method: string, path: string, status: 400 | 404, latencyMs: number): void {
    const outcome = status === 404 ? 'no_route' : 'bad_path'
    if (this.#ecs)
      return this.#line(
        `{"@timestamp":"${this.#clock.format(Date.now())}","log.level":"info","message":${jsonString(`${method} ${path} ${status}`)},"ecs.version":"${ECS_VERSION}","event":{"kind":"event","category":["web"],"type":["access"],"dataset":"vigil.access","outcome":"failure","duration":${Math.round(latencyMs * 1e6)}},"http":{"request":{"id":${jsonString(requestId)},"method":${jsonString(method)}},"response":{"status_code":${status}}},"url":{"path":${jsonString(path)}},"service":{"name":"vigil","type":"gateway"},"vigil":{"route":null,"outcome":"${outcome}","attempts":0}}\n`,
      )
    this.#line(
      `{"level":${INFO},"time":"${this.#clock.format(Date.now())}","type":"access","requestId":${jsonString(requestId)},"route":null,"method":${jsonString(method)},"path":${jsonString(path)},"status":${status},"outcome":"${outcome}","latencyMs":${micros(latencyMs)},"attempts":0}\n`,
    )
  }

  #ecsLine(ex: Exchange, error: boolean): string {
    const plan = ex.plan
    const trace = ex.traceId === '' ? '' : `"trace":{"id":"${ex.traceId}"},"span":{"id":"${ex.spanId}"},`
    return `{"@timestamp":"${this.#clock.format(Date.now())}","log.level":"${error ? 'error' : 'info'}","message":${jsonString(`${ex.method} ${ex.path} ${ex.status}`)},"ecs.version":"${ECS_VERSION}","event":{"kind":"event","category":["web"],"type":["access"],"dataset":"vigil.access","outcome":"${error ? 'failure' : 'success'}","duration":${Math.round(ex.latencyMs * 1e6)}},"http":{"request":{"id":${jsonString(ex.requestId)},"method":${jsonString(ex.method)},"bytes":${ex.bytesIn}},"response":{"status_code":${ex.status},"bytes":${ex.bytesOut}}},"url":{"path":${jsonString(ex.path)}},${trace}"service":{"name":"vigil","type":"gateway"},"vigil":{"route":${jsonString(plan.name)},"service":${jsonString(plan.service.name)},"target":${jsonString(ex.target)},"outcome":"${ex.outcome}","latencyMs":${micros(ex.latencyMs)},"attempts":${ex.attempts}}}\n`
  }

  #line(line: string): void {
    this.#pending += line
    if (this.#pending.length >= CHUNK_CHARS) this.#push()
  }

  #push(): void {
    if (this.#pending.length === 0 || this.#dest.destroyed) return
    const chunk = this.#pending
    this.#pending = ''
    this.#dest.write(chunk)
  }

  /** Writes out everything buffered; a file destination is closed, stdout/stderr stay open. */
  async close(): Promise<void> {
    clearInterval(this.#timer)
    this.#push()
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

/** The parts of pino's SonicBoom destination the access log uses. */
interface AsyncDestination {
  readonly fd: number
  readonly destroyed: boolean
  write(chunk: string): boolean
  once(event: 'ready' | 'close', listener: () => void): void
  flush(cb: (err?: Error) => void): void
  end(): void
}
