/**
 * @module An OTLP decode worker (a `worker_threads` entry, started by otlp-pool.ts): gunzips,
 * decodes and validates one export request at a time and encodes the spans into bus batches
 * (`encodeSpans`), so the receiving thread only moves bytes. Bodies arrive and batches leave as
 * transferred buffers: nothing is copied between threads.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { gunzipSync } from 'node:zlib'
import { isVigilError } from '../errors.js'
import { encodeSpans } from './codec.js'
import { decodeOtlpJson, decodeOtlpProtobuf, type IngestResult } from './otlp-decode.js'
import type { DecodeJob, DecodeReply, DecodeWorkerData } from './otlp-pool.js'

const cfg = workerData as DecodeWorkerData

function run(job: DecodeJob): { reply: DecodeReply; transfer: ArrayBuffer[] } {
  let body: Uint8Array = job.body
  if (job.gzip) {
    try {
      body = gunzipSync(body, { maxOutputLength: cfg.maxBodyBytes })
    } catch (err) {
      // a gzip bomb stops at maxBodyBytes of output
      const tooLarge = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
      return {
        reply: {
          id: job.id,
          ok: false,
          kind: tooLarge ? 'too_large' : 'malformed',
          message: `gzip: ${(err as Error).message}`,
        },
        transfer: [],
      }
    }
  }
  let result: IngestResult
  try {
    result = job.json ? decodeOtlpJson(body, cfg) : decodeOtlpProtobuf(body, cfg)
  } catch (err) {
    if (!isVigilError(err)) throw err
    return { reply: { id: job.id, ok: false, kind: 'malformed', message: err.message }, transfer: [] }
  }
  const batches: Uint8Array[] = []
  const transfer: ArrayBuffer[] = []
  const spans = result.spans
  for (let i = 0; i < spans.length; i += cfg.maxBatchSize) {
    let batch = encodeSpans(spans.slice(i, i + cfg.maxBatchSize))
    // A small encoding may sit in Node's shared Buffer pool: transferring that would take the pool
    // away from this thread; copy it into a buffer of its own.
    if (batch.byteOffset !== 0 || batch.buffer.byteLength !== batch.byteLength) batch = new Uint8Array(batch)
    batches.push(batch)
    transfer.push(batch.buffer as ArrayBuffer)
  }
  return {
    reply: {
      id: job.id,
      ok: true,
      batches,
      accepted: spans.length,
      rejected: result.rejected,
      errorMessage: result.errorMessage,
    },
    transfer,
  }
}

parentPort!.on('message', (job: DecodeJob) => {
  const { reply, transfer } = run(job)
  parentPort!.postMessage(reply, transfer)
})
