/**
 * @module Decoding OTLP trace export requests (protobuf or the OTLP JSON mapping) into
 * `SpanRecord`s, with validation: ids, timestamps, attribute limits. Runs in the OTLP decode
 * workers (otlp-worker.ts), never on the gateway's event loop.
 */
import { VGL_ERR_OTLP_MALFORMED } from '../errors.js'
import {
  ExportTraceServiceRequest,
  type Int64,
  type PbAnyValue,
  type PbKeyValue,
  type PbRequest,
} from './otlp-schema.js'
import type { SpanRecord } from './types.js'

export interface OtlpDecodeOptions {
  /** env for spans whose resource names none (deployment.environment(.name), cloud.provider) */
  defaultEnv?: string
  /** attributes kept per span (the rest are dropped; default 64) */
  maxAttributes?: number
}

export interface IngestResult {
  spans: SpanRecord[]
  rejected: number
  /** empty when nothing was rejected */
  errorMessage: string
}

const MAX_STRING = 1024
const HEX_TRACE = /^[0-9a-fA-F]{32}$/
const HEX_SPAN = /^[0-9a-fA-F]{16}$/
const ZERO_TRACE = '00000000000000000000000000000000'
const ZERO_SPAN = '0000000000000000'

/** Collects validation failures: counts all, keeps the first few distinct reasons. */
class Rejections {
  count = 0
  reasons: string[] = []
  add(reason: string): void {
    this.count++
    if (this.reasons.length < 3 && !this.reasons.includes(reason)) this.reasons.push(reason)
  }
  message(): string {
    return this.count === 0 ? '' : `${this.count} span(s) rejected: ${this.reasons.join('; ')}`
  }
}

/** An OTLP nanosecond timestamp as an exact bigint; null when missing or not an integer. */
function toNanos(v: Int64 | undefined | null): bigint | null {
  try {
    if (v === undefined || v === null) return null
    if (typeof v === 'number') return Number.isFinite(v) ? BigInt(Math.trunc(v)) : null
    if (typeof v === 'string') return BigInt(v)
    const l = v as unknown as { high: number; low: number }
    return (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0)
  } catch {
    return null
  }
}

function int64ToNumber(v: Int64 | undefined | null): number {
  if (v === undefined || v === null) return 0
  if (typeof v === 'number') return v
  if (typeof v === 'string') return Number(v)
  return v.toNumber()
}

function clip(s: string): string {
  return s.length > MAX_STRING ? s.slice(0, MAX_STRING) : s
}

type Scalar = string | number | boolean

function pbValue(v: PbAnyValue | null | undefined): Scalar | null {
  if (v === null || v === undefined) return null
  switch (v.value) {
    case 'stringValue':
      return clip(v.stringValue ?? '')
    case 'boolValue':
      return v.boolValue ?? false
    case 'intValue':
      return int64ToNumber(v.intValue)
    case 'doubleValue':
      return v.doubleValue ?? 0
    case 'bytesValue':
      return Buffer.from(v.bytesValue ?? []).toString('base64')
    case 'arrayValue':
      return clip(JSON.stringify((v.arrayValue?.values ?? []).map(pbValue)))
    case 'kvlistValue':
      return clip(
        JSON.stringify(
          Object.fromEntries((v.kvlistValue?.values ?? []).map((kv) => [kv.key, pbValue(kv.value)])),
        ),
      )
    default:
      return null
  }
}

interface JsonAnyValue {
  stringValue?: string
  boolValue?: boolean
  intValue?: string | number
  doubleValue?: number | string
  bytesValue?: string
  arrayValue?: { values?: JsonAnyValue[] }
  kvlistValue?: { values?: Array<{ key: string; value?: JsonAnyValue }> }
}

function jsonValue(v: JsonAnyValue | null | undefined): Scalar | null {
  if (v === null || v === undefined || typeof v !== 'object') return null
  if (v.stringValue !== undefined) return clip(String(v.stringValue))
  if (v.boolValue !== undefined) return v.boolValue === true
  if (v.intValue !== undefined) return Number(v.intValue)
  if (v.doubleValue !== undefined) return Number(v.doubleValue)
  if (v.bytesValue !== undefined) return String(v.bytesValue)
  if (v.arrayValue !== undefined) return clip(JSON.stringify((v.arrayValue.values ?? []).map(jsonValue)))
  if (v.kvlistValue !== undefined)
    return clip(
      JSON.stringify(
        Object.fromEntries((v.kvlistValue.values ?? []).map((kv) => [kv.key, jsonValue(kv.value)])),
      ),
    )
  return null
}

/** The fields of one span after either decoding, before validation. */
interface RawSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  startNs: bigint | null
  endNs: bigint | null
  statusCode: number
  statusMessage: string
  attributes: Record<string, Scalar>
}

interface ResourceInfo {
  service: string
  env: string
  scope: string
  /** resource attributes copied onto each span (where it runs: replica, cloud, region) */
  extra: Record<string, Scalar>
}

/** Resource attributes kept on every span: where it ran. */
const KEPT_RESOURCE = ['service.instance.id', 'cloud.provider', 'cloud.region', 'host.name'] as const

/**
 * Service and env of a resource. The env is `deployment.environment.name` (or the older
 * `deployment.environment`), else `cloud.provider` with `cloud.region` (`aws:eu-west-1`), else the
 * receiver's default (the gateway's env); a defaulted env is marked `vigil.env_defaulted` so the
 * journeys' graph can count spans of unknown env.
 */
function resourceInfo(attrs: Record<string, Scalar>, defaultEnv: string): Omit<ResourceInfo, 'scope'> {
  const service = attrs['service.name']
  const declared = attrs['deployment.environment.name'] ?? attrs['deployment.environment']
  const provider = attrs['cloud.provider']
  const region = attrs['cloud.region']
  const cloud =
    typeof provider === 'string' && provider !== ''
      ? typeof region === 'string' && region !== ''
        ? `${provider}:${region}`
        : provider
      : null
  const env = typeof declared === 'string' && declared !== '' ? declared : cloud
  const extra: Record<string, Scalar> = {}
  for (const k of KEPT_RESOURCE) if (attrs[k] !== undefined) extra[k] = attrs[k]
  if (env === null) extra['vigil.env_defaulted'] = true
  return {
    // the OpenTelemetry SDKs' own fallback when service.name is not set
    service: typeof service === 'string' && service !== '' ? service : 'unknown_service',
    env: env ?? defaultEnv,
    extra,
  }
}

function firstString(v: Scalar | undefined): string | null {
  if (typeof v !== 'string' || v === '') return null
  // semconv request headers are string arrays, which arrive here JSON-encoded
  if (v.startsWith('["')) {
    try {
      const arr = JSON.parse(v) as unknown[]
      return typeof arr[0] === 'string' ? arr[0] : null
    } catch {
      return v
    }
  }
  return v
}

function toRecord(raw: RawSpan, res: ResourceInfo, idx: string, rej: Rejections): SpanRecord | null {
  if (!HEX_TRACE.test(raw.traceId) || raw.traceId === ZERO_TRACE) {
    rej.add(`${idx}: traceId must be 16 bytes and not all zero`)
    return null
  }
  if (!HEX_SPAN.test(raw.spanId) || raw.spanId === ZERO_SPAN) {
    rej.add(`${idx}: spanId must be 8 bytes and not all zero`)
    return null
  }
  if (raw.parentSpanId !== '' && !HEX_SPAN.test(raw.parentSpanId)) {
    rej.add(`${idx}: parentSpanId must be empty or 8 bytes`)
    return null
  }
  if (raw.startNs === null || raw.endNs === null || raw.startNs <= 0n || raw.endNs < raw.startNs) {
    rej.add(`${idx}: startTimeUnixNano must be > 0 and endTimeUnixNano >= startTimeUnixNano`)
    return null
  }
  const a = raw.attributes
  const status = a['http.response.status_code'] ?? a['http.status_code']
  for (const k in res.extra) if (a[k] === undefined) a[k] = res.extra[k]
  if (res.scope !== '') a['otel.scope.name'] = res.scope
  if (raw.statusMessage !== '') a['otel.status_description'] = clip(raw.statusMessage)
  return {
    traceId: raw.traceId.toLowerCase(),
    spanId: raw.spanId.toLowerCase(),
    parentSpanId:
      raw.parentSpanId === '' || raw.parentSpanId === ZERO_SPAN ? null : raw.parentSpanId.toLowerCase(),
    service: res.service,
    env: res.env,
    route: '',
    name: clip(raw.name),
    kind: raw.kind,
    // exact to the microsecond: a float64 of nanoseconds since 1970 is not
    startTimeMs: Number(raw.startNs / 1000n) / 1000,
    durationMs: Number(raw.endNs - raw.startNs) / 1e6,
    statusCode: raw.statusCode,
    httpStatus: typeof status === 'number' ? status : null,
    requestId: firstString(a['http.request.header.x-request-id']) ?? firstString(a['vigil.request_id']),
    source: 'otlp',
    attributes: a,
  }
}

function attrsOf<T>(
  list: T[] | undefined | null,
  max: number,
  key: (x: T) => string,
  val: (x: T) => Scalar | null,
) {
  const out: Record<string, Scalar> = {}
  if (!Array.isArray(list)) return out
  let n = 0
  for (const kv of list) {
    if (n >= max) break
    const v = val(kv)
    if (v === null) continue
    out[key(kv)] = v
    n++
  }
  return out
}

// protobufjs hands out Buffer views of the request; view, never copy, to hex-encode ids
const hex = (b: Uint8Array | undefined | null): string =>
  b === undefined || b === null || b.length === 0
    ? ''
    : (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString('hex')

/** Decodes a protobuf `ExportTraceServiceRequest`; throws VGL_ERR_OTLP_MALFORMED when it cannot. */
export function decodeOtlpProtobuf(body: Uint8Array, opts: OtlpDecodeOptions = {}): IngestResult {
  let req: PbRequest
  try {
    req = ExportTraceServiceRequest.decode(body) as unknown as PbRequest
  } catch (err) {
    throw VGL_ERR_OTLP_MALFORMED(`protobuf: ${(err as Error).message}`)
  }
  const maxAttr = opts.maxAttributes ?? 64
  const defaultEnv = opts.defaultEnv ?? 'default'
  const rej = new Rejections()
  const spans: SpanRecord[] = []
  const key = (kv: PbKeyValue) => kv.key
  const val = (kv: PbKeyValue) => pbValue(kv.value)
  req.resourceSpans.forEach((rs, i) => {
    const base = resourceInfo(attrsOf(rs.resource?.attributes, 128, key, val), defaultEnv)
    rs.scopeSpans.forEach((ss, j) => {
      const res = { ...base, scope: ss.scope?.name ?? '' }
      ss.spans.forEach((s, k) => {
        const rec = toRecord(
          {
            traceId: hex(s.traceId),
            spanId: hex(s.spanId),
            parentSpanId: hex(s.parentSpanId),
            name: s.name,
            kind: s.kind,
            startNs: toNanos(s.startTimeUnixNano),
            endNs: toNanos(s.endTimeUnixNano),
            statusCode: s.status?.code ?? 0,
            statusMessage: s.status?.message ?? '',
            attributes: attrsOf(s.attributes, maxAttr, key, val),
          },
          res,
          `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`,
          rej,
        )
        if (rec !== null) spans.push(rec)
      })
    })
  })
  return { spans, rejected: rej.count, errorMessage: rej.message() }
}

interface JsonKv {
  key: string
  value?: JsonAnyValue
}
interface JsonSpan {
  traceId?: string
  spanId?: string
  parentSpanId?: string
  name?: string
  kind?: number | string
  startTimeUnixNano?: string | number
  endTimeUnixNano?: string | number
  attributes?: JsonKv[]
  status?: { code?: number | string; message?: string }
}

const SPAN_KINDS: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
}
const STATUS_CODES: Record<string, number> = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 }

function enumNumber(v: number | string | undefined, names: Record<string, number>): number {
  if (typeof v === 'number') return v
  if (typeof v === 'string') return names[v] ?? (Number(v) || 0)
  return 0
}

/** Decodes an OTLP/JSON `ExportTraceServiceRequest`; throws VGL_ERR_OTLP_MALFORMED when it cannot. */
export function decodeOtlpJson(body: Uint8Array | string, opts: OtlpDecodeOptions = {}): IngestResult {
  let req: { resourceSpans?: unknown }
  try {
    req = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8')) as typeof req
  } catch (err) {
    throw VGL_ERR_OTLP_MALFORMED(`JSON: ${(err as Error).message}`)
  }
  if (req === null || typeof req !== 'object' || Array.isArray(req))
    throw VGL_ERR_OTLP_MALFORMED('JSON: expected an object with resourceSpans')
  const rsList = req.resourceSpans ?? []
  if (!Array.isArray(rsList)) throw VGL_ERR_OTLP_MALFORMED('JSON: resourceSpans must be an array')
  const maxAttr = opts.maxAttributes ?? 64
  const defaultEnv = opts.defaultEnv ?? 'default'
  const rej = new Rejections()
  const spans: SpanRecord[] = []
  const key = (kv: JsonKv) => String(kv.key)
  const val = (kv: JsonKv) => (kv !== null && typeof kv === 'object' ? jsonValue(kv.value) : null)
  rsList.forEach((rs: { resource?: { attributes?: JsonKv[] }; scopeSpans?: unknown }, i) => {
    if (rs === null || typeof rs !== 'object')
      throw VGL_ERR_OTLP_MALFORMED(`JSON: resourceSpans[${i}] is not an object`)
    const base = resourceInfo(attrsOf(rs.resource?.attributes, 128, key, val), defaultEnv)
    const ssList = rs.scopeSpans ?? []
    if (!Array.isArray(ssList))
      throw VGL_ERR_OTLP_MALFORMED(`JSON: resourceSpans[${i}].scopeSpans must be an array`)
    ssList.forEach((ss: { scope?: { name?: string }; spans?: unknown }, j) => {
      const res = { ...base, scope: typeof ss?.scope?.name === 'string' ? ss.scope.name : '' }
      const list = ss?.spans ?? []
      if (!Array.isArray(list))
        throw VGL_ERR_OTLP_MALFORMED(`JSON: resourceSpans[${i}].scopeSpans[${j}].spans must be an array`)
      list.forEach((s: JsonSpan, k) => {
        const idx = `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`
        if (s === null || typeof s !== 'object') return rej.add(`${idx}: not an object`)
        const rec = toRecord(
          {
            traceId: typeof s.traceId === 'string' ? s.traceId : '',
            spanId: typeof s.spanId === 'string' ? s.spanId : '',
            parentSpanId: typeof s.parentSpanId === 'string' ? s.parentSpanId : '',
            name: typeof s.name === 'string' ? s.name : '',
            kind: enumNumber(s.kind, SPAN_KINDS),
            startNs: toNanos(s.startTimeUnixNano),
            endNs: toNanos(s.endTimeUnixNano),
            statusCode: enumNumber(s.status?.code, STATUS_CODES),
            statusMessage: typeof s.status?.message === 'string' ? s.status.message : '',
            attributes: attrsOf(s.attributes, maxAttr, key, val),
          },
          res,
          idx,
          rej,
        )
        if (rec !== null) spans.push(rec)
      })
    })
  })
  return { spans, rejected: rej.count, errorMessage: rej.message() }
}
