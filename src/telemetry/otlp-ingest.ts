/**
 * @module OTLP/HTTP trace ingest (OpenTelemetry Protocol specification, "OTLP/HTTP"): `POST
 * /v1/traces` with a protobuf (`application/x-protobuf`) or JSON (`application/json`, the OTLP
 * JSON mapping: hex ids, int64 as strings) `ExportTraceServiceRequest`, optionally gzip-encoded.
 * Served on its own listener (default 0.0.0.0:4318, the OTLP/HTTP port) so services in other
 * environments export straight to Vigil with any OpenTelemetry SDK.
 *
 * Responses follow the spec: 200 with an `ExportTraceServiceResponse` (with `partialSuccess`
 * when some spans fail validation), 400 for an undecodable payload, 413 for an oversized one,
 * 415 for another content type, 503 + Retry-After when the bus refuses the spans (the exporter
 * retries). Error bodies are `google.rpc.Status` in the request's encoding.
 *
 * `service.name` and `deployment.environment.name` (or the older `deployment.environment`)
 * resource attributes become the span's service and env.
 */
import { closeDraining } from '../http-close.js'
import { listenProblem } from '../listen-error.js'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Bus } from '../bus/bus.js'
import { SUBJECT_SPANS } from '../bus/bus.js'
import {
  VGL_ERR_OTLP_LISTEN,
  VGL_ERR_OTLP_MALFORMED,
  VGL_ERR_OTLP_MEDIA_TYPE,
  VGL_ERR_OTLP_TOO_LARGE,
  VGL_ERR_OTLP_UNAVAILABLE,
  isVigilError,
  type VigilError,
} from '../errors.js'
import { otlpRequestsTotal, otlpSpansTotal } from './metrics.js'
import type { OtlpDecodeOptions } from './otlp-decode.js'
import { OtlpDecodePool, type DecodeReply } from './otlp-pool.js'
import { ExportTraceServiceResponse, RpcStatus } from './otlp-schema.js'
import { listenAddress, localUrl } from '../listen-address.js'

export { decodeOtlpJson, decodeOtlpProtobuf } from './otlp-decode.js'
export type { IngestResult, OtlpDecodeOptions } from './otlp-decode.js'

export interface OtlpReceiverOptions extends OtlpDecodeOptions {
  host?: string
  port?: number
  /** largest body accepted, compressed and after gunzip (default 4 MiB) */
  maxBodyBytes?: number
  /** worker threads that decode requests, off the event loop (default 1) */
  decodeWorkers?: number
  /** requests waiting or being decoded per worker before the receiver answers 503 (default 4) */
  decodeQueue?: number
}

/**
 * Where ingested spans go, already encoded (`encodeSpans`, at most `maxBatchSize` spans per
 * batch, by the decode workers); reject to make the exporter retry (503).
 */
export interface OtlpSink {
  readonly maxBatchSize: number
  publish(batches: Uint8Array[]): Promise<void>
}

export interface OtlpReceiver {
  /** a URL this host calls the receiver by (loopback when bound to every interface) */
  readonly url: string
  /** the address as bound, for the log: `http://0.0.0.0:4318 (all interfaces)` */
  readonly listen: string
  readonly port: number
  close(): Promise<void>
}

/**
 * A sink that publishes span batches to the bus.
 * @example
 * await startOtlpReceiver({ port: 4318 }, busSpanSink(bus))
 */
export function busSpanSink(
  bus: Pick<Bus, 'publish'>,
  opts: { subject?: string; maxBatchSize?: number } = {},
): OtlpSink {
  const subject = opts.subject ?? SUBJECT_SPANS
  return {
    maxBatchSize: opts.maxBatchSize ?? 512,
    async publish(batches) {
      for (const b of batches) await bus.publish(subject, b)
    },
  }
}

type Encoding = 'protobuf' | 'json'

function mediaType(req: IncomingMessage): Encoding | null {
  const ct = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (ct === 'application/x-protobuf' || ct === 'application/protobuf') return 'protobuf'
  if (ct === 'application/json') return 'json'
  return null
}

function send(
  res: ServerResponse,
  status: number,
  enc: Encoding,
  body: Uint8Array | string,
  extra?: Record<string, string>,
) {
  otlpRequestsTotal.labels(String(status)).inc()
  res.writeHead(status, {
    'content-type': enc === 'protobuf' ? 'application/x-protobuf' : 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...extra,
  })
  res.end(body)
}

/** google.rpc.Status codes used in error bodies */
const RPC_INVALID_ARGUMENT = 3
const RPC_RESOURCE_EXHAUSTED = 8
const RPC_UNAVAILABLE = 14

function sendError(
  res: ServerResponse,
  enc: Encoding,
  err: VigilError,
  rpcCode: number,
  extra?: Record<string, string>,
) {
  const message = `${err.code}: ${err.message}`
  const body =
    enc === 'protobuf'
      ? RpcStatus.encode(RpcStatus.create({ code: rpcCode, message })).finish()
      : JSON.stringify({ code: rpcCode, message })
  send(res, err.statusCode, enc, body, extra)
}

/** Reads the body up to `max` bytes; resolves null when it is larger. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? -1)
    if (declared > max) {
      req.resume()
      return resolve(null)
    }
    const chunks: Buffer[] = []
    let n = 0
    let over = false
    req.on('data', (c: Buffer) => {
      if (over) return
      n += c.length
      if (n > max) {
        over = true
        chunks.length = 0
        return
      }
      chunks.push(c)
    })
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks, n)))
    req.on('error', reject)
  })
}

/** 503 + Retry-After: retryable in OTLP/HTTP, the exporter backs off and sends the batch again. */
function sendUnavailable(res: ServerResponse, enc: Encoding, why: string) {
  sendError(res, enc, VGL_ERR_OTLP_UNAVAILABLE(why), RPC_UNAVAILABLE, { 'retry-after': '5' })
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  opts: Required<OtlpReceiverOptions>,
  pool: OtlpDecodePool,
  sink: OtlpSink,
) {
  const path = (req.url ?? '').split('?')[0]
  if (path !== '/v1/traces')
    return send(
      res,
      404,
      'json',
      JSON.stringify({ code: 5, message: `no OTLP endpoint at ${path}; traces go to POST /v1/traces` }),
    )
  if (req.method !== 'POST')
    return send(res, 405, 'json', JSON.stringify({ code: 12, message: 'use POST' }), { allow: 'POST' })
  const enc = mediaType(req)
  if (enc === null) {
    req.resume()
    return sendError(
      res,
      'json',
      VGL_ERR_OTLP_MEDIA_TYPE(JSON.stringify(req.headers['content-type'] ?? '')),
      RPC_INVALID_ARGUMENT,
    )
  }
  const coding = (req.headers['content-encoding'] ?? 'identity').toLowerCase()
  if (coding !== 'identity' && coding !== 'gzip') {
    req.resume()
    return sendError(
      res,
      enc,
      VGL_ERR_OTLP_MEDIA_TYPE(`with Content-Encoding ${coding} (use gzip or none)`),
      RPC_INVALID_ARGUMENT,
    )
  }
  const tooLarge = VGL_ERR_OTLP_TOO_LARGE(opts.maxBodyBytes)
  const body = await readBody(req, opts.maxBodyBytes)
  if (body === null) return sendError(res, enc, tooLarge, RPC_RESOURCE_EXHAUSTED, { connection: 'close' })
  let result: DecodeReply
  try {
    result = await pool.decode(body, enc === 'json', coding === 'gzip')
  } catch (err) {
    return sendUnavailable(res, enc, isVigilError(err) ? err.message : (err as Error).message)
  }
  if (!result.ok) {
    if (result.kind === 'too_large') return sendError(res, enc, tooLarge, RPC_RESOURCE_EXHAUSTED)
    return sendError(
      res,
      enc,
      VGL_ERR_OTLP_MALFORMED(result.message.replace(/^malformed OTLP request: /, '')),
      RPC_INVALID_ARGUMENT,
    )
  }
  if (result.batches.length > 0) {
    try {
      await sink.publish(result.batches)
    } catch (err) {
      const e = isVigilError(err) ? err : VGL_ERR_OTLP_MALFORMED((err as Error).message)
      return sendUnavailable(res, enc, `the span bus is unavailable (${e.message})`)
    }
  }
  otlpSpansTotal.labels('accepted').inc(result.accepted)
  if (result.rejected > 0) otlpSpansTotal.labels('rejected').inc(result.rejected)
  const partial =
    result.rejected > 0 ? { rejectedSpans: result.rejected, errorMessage: result.errorMessage } : null
  if (enc === 'protobuf') {
    const msg = ExportTraceServiceResponse.create(partial === null ? {} : { partialSuccess: partial })
    return send(res, 200, enc, ExportTraceServiceResponse.encode(msg).finish())
  }
  return send(
    res,
    200,
    enc,
    JSON.stringify(
      partial === null
        ? {}
        : {
            partialSuccess: {
              rejectedSpans: String(partial.rejectedSpans),
              errorMessage: partial.errorMessage,
            },
          },
    ),
  )
}

/** The other way out of a clash: most gateways do not need to receive other services' spans. */
const OTLP_OFF = 'or set telemetry.otlp.enabled: false to turn the receiver off'

/**
 * Starts the OTLP/HTTP receiver. Resolves once it listens; `port: 0` picks a free port.
 * @example
 * const rx = await startOtlpReceiver({ host: '127.0.0.1', port: 0 }, busSpanSink(bus))
 * // export with OTLPTraceExporter({ url: `${rx.url}/v1/traces` }), then: await rx.close()
 */
export async function startOtlpReceiver(opts: OtlpReceiverOptions, sink: OtlpSink): Promise<OtlpReceiver> {
  const full: Required<OtlpReceiverOptions> = {
    host: opts.host ?? '0.0.0.0',
    port: opts.port ?? 4318,
    maxBodyBytes: opts.maxBodyBytes ?? 4 * 1024 * 1024,
    defaultEnv: opts.defaultEnv ?? 'default',
    maxAttributes: opts.maxAttributes ?? 64,
    decodeWorkers: opts.decodeWorkers ?? 1,
    decodeQueue: opts.decodeQueue ?? 4,
  }
  const pool = new OtlpDecodePool({
    workers: full.decodeWorkers,
    maxQueuedPerWorker: full.decodeQueue,
    defaultEnv: full.defaultEnv,
    maxAttributes: full.maxAttributes,
    maxBodyBytes: full.maxBodyBytes,
    maxBatchSize: sink.maxBatchSize,
  })
  const server: Server = createServer((req, res) => {
    handle(req, res, full, pool, sink).catch((err: Error) => {
      if (!res.headersSent) send(res, 500, 'json', JSON.stringify({ code: 13, message: err.message }))
      else res.destroy()
    })
  })
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      void pool.close()
      reject(
        VGL_ERR_OTLP_LISTEN(
          listenProblem({ block: 'telemetry.otlp', host: full.host, port: full.port, orElse: OTLP_OFF }, err),
        ),
      )
    })
    server.listen(full.port, full.host, () => resolve())
  })
  const addr = server.address() as AddressInfo
  let closing: Promise<void> | null = null
  return {
    url: localUrl(addr.address, addr.port),
    listen: listenAddress(addr.address, addr.port),
    port: addr.port,
    close: () =>
      (closing ??= closeDraining(
        server,
        () => new Promise<void>((resolve) => server.close(() => resolve())),
      ).then(() => pool.close())),
  }
}
