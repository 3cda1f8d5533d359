/**
 * @module A small pool of OTLP decode workers (`worker_threads`, otlp-worker.ts). Decoding a
 * 4 MiB export request takes tens of milliseconds of CPU; on the receiving thread, which is also
 * the gateway's event loop, every proxied request would wait behind it. Each job goes to the
 * worker with the fewest jobs; a worker that dies fails its jobs and is replaced.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { VGL_ERR_OTLP_UNAVAILABLE } from '../errors.js'

/** What every worker is started with. */
export interface DecodeWorkerData {
  defaultEnv: string
  maxAttributes: number
  /** gunzip output limit */
  maxBodyBytes: number
  /** spans per encoded bus batch */
  maxBatchSize: number
}

export interface DecodeJob {
  id: number
  json: boolean
  gzip: boolean
  body: Uint8Array
}

export type DecodeReply =
  | {
      id: number
      ok: true
      /** `encodeSpans` batches of at most maxBatchSize spans */
      batches: Uint8Array[]
      accepted: number
      rejected: number
      errorMessage: string
    }
  | { id: number; ok: false; kind: 'malformed' | 'too_large'; message: string }

interface Slot {
  worker: Worker
  jobs: Map<number, (reply: DecodeReply | Error) => void>
}

export interface DecodePoolOptions extends DecodeWorkerData {
  /** worker threads (default 1) */
  workers: number
  /** jobs waiting or running per worker before `decode` refuses (default 4) */
  maxQueuedPerWorker?: number
}

export class OtlpDecodePool {
  readonly #data: DecodeWorkerData
  readonly #slots: Slot[] = []
  readonly #maxQueued: number
  #nextId = 0
  #closed = false

  constructor(opts: DecodePoolOptions) {
    this.#data = {
      defaultEnv: opts.defaultEnv,
      maxAttributes: opts.maxAttributes,
      maxBodyBytes: opts.maxBodyBytes,
      maxBatchSize: opts.maxBatchSize,
    }
    this.#maxQueued = opts.maxQueuedPerWorker ?? 4
    for (let i = 0; i < Math.max(1, opts.workers); i++) this.#slots.push(this.#spawn())
  }

  #spawn(): Slot {
    const worker = new Worker(workerUrl(), { workerData: this.#data })
    worker.unref()
    const slot: Slot = { worker, jobs: new Map() }
    worker.on('message', (reply: DecodeReply) => {
      const done = slot.jobs.get(reply.id)
      slot.jobs.delete(reply.id)
      done?.(reply)
    })
    const fail = (err: Error): void => {
      for (const done of slot.jobs.values()) done(err)
      slot.jobs.clear()
      const i = this.#slots.indexOf(slot)
      if (i >= 0 && !this.#closed) this.#slots[i] = this.#spawn()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`OTLP decode worker exited with code ${code}`)))
    return slot
  }

  /**
   * Decodes one request body in a worker; the body's memory moves to the worker (do not use it
   * afterwards). Rejects with VGL_ERR_OTLP_UNAVAILABLE when every worker is full or the pool is
   * closed (the exporter retries).
   */
  decode(body: Buffer, json: boolean, gzip: boolean): Promise<DecodeReply> {
    if (this.#closed) return Promise.reject(VGL_ERR_OTLP_UNAVAILABLE('the receiver is closing'))
    let slot = this.#slots[0]!
    for (const s of this.#slots) if (s.jobs.size < slot.jobs.size) slot = s
    if (slot.jobs.size >= this.#maxQueued)
      return Promise.reject(VGL_ERR_OTLP_UNAVAILABLE('every decode worker is busy'))
    // A Buffer may be a view into a larger (or Node's shared) ArrayBuffer: transfer only a buffer
    // of its own.
    const own =
      body.byteOffset === 0 && body.buffer.byteLength === body.byteLength ? body : new Uint8Array(body)
    const id = ++this.#nextId
    const job: DecodeJob = { id, json, gzip, body: own }
    return new Promise((resolve, reject) => {
      slot.jobs.set(id, (r) => (r instanceof Error ? reject(r) : resolve(r)))
      slot.worker.postMessage(job, [own.buffer as ArrayBuffer])
    })
  }

  async close(): Promise<void> {
    this.#closed = true
    await Promise.all(this.#slots.map((s) => s.worker.terminate()))
  }
}

/**
 * The compiled worker script. Under a TypeScript test runner this module is
 * `src/telemetry/*.ts` and Node cannot start a .ts worker, so it uses the build in `dist/`.
 */
function workerUrl(): URL {
  const here = new URL('./otlp-worker.js', import.meta.url)
  if (!import.meta.url.endsWith('.ts')) return here
  const built = new URL(
    import.meta.url.replace(/\/src\/telemetry\/[^/]+\.ts$/, '/dist/telemetry/otlp-worker.js'),
  )
  if (!existsSync(fileURLToPath(built)))
    throw VGL_ERR_OTLP_UNAVAILABLE(
      `the decode worker is not built (${fileURLToPath(built)}); run npm run build`,
    )
  return built
}
