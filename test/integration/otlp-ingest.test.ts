/**
 * OTLP/HTTP ingest against requests made by the official OpenTelemetry JS SDK and exporters
 * (exporter-trace-otlp-proto / -otlp-http 0.223.1, sdk-trace-base 2.12.1), plus the error paths.
 */
import { Agent, request } from 'node:http'
import { gzipSync } from 'node:zlib'
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { MemoryBus } from '../../src/bus/memory.js'
import { decodeSpans } from '../../src/telemetry/codec.js'
import {
  busSpanSink,
  decodeOtlpJson,
  startOtlpReceiver,
  type OtlpReceiver,
} from '../../src/telemetry/otlp-ingest.js'
import { ExportTraceServiceResponse } from '../../src/telemetry/otlp-schema.js'
import type { SpanRecord } from '../../src/telemetry/types.js'

const GATEWAY_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'
const GATEWAY_SPAN = '00f067aa0ba902b7'

let rx: OtlpReceiver
let received: SpanRecord[] = []
let sinkFails = false

beforeAll(async () => {
  rx = await startOtlpReceiver(
    { host: '127.0.0.1', port: 0, maxBodyBytes: 64 * 1024, defaultEnv: 'gw-env' },
    {
      maxBatchSize: 512,
      async publish(batches) {
        if (sinkFails) throw new Error('bus down')
        for (const b of batches) received.push(...decodeSpans(b))
      },
    },
  )
})
afterAll(() => rx.close())
afterEach(() => {
  received = []
  sinkFails = false
})

/** Exports two spans (a server span joined to the gateway's trace, and a child) with the real SDK. */
async function exportWith(exporter: SpanExporter, env: { key: string; value: string }) {
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'payments', [env.key]: env.value }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  })
  const tracer = provider.getTracer('mock-payments', '1.0.0')
  // the incoming request carried the gateway's traceparent
  const parent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: GATEWAY_TRACE,
    spanId: GATEWAY_SPAN,
    traceFlags: 1,
    isRemote: true,
  })
  const server = tracer.startSpan(
    'POST /charge',
    {
      kind: SpanKind.SERVER,
      attributes: {
        'http.response.status_code': 502,
        'http.request.header.x-request-id': ['rid-7'],
        retries: 2,
        cached: false,
      },
    },
    parent,
  )
  const child = tracer.startSpan('db query', { kind: SpanKind.CLIENT }, trace.setSpan(parent, server))
  child.end()
  server.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' })
  server.end()
  await provider.forceFlush()
  await provider.shutdown()
}

describe('OTLP/HTTP ingest from the OpenTelemetry JS SDK', () => {
  const cases = [
    ['protobuf', () => new ProtoExporter({ url: `${rx.url}/v1/traces` }), 'deployment.environment.name'],
    [
      'protobuf + gzip',
      () => new ProtoExporter({ url: `${rx.url}/v1/traces`, compression: CompressionAlgorithm.GZIP }),
      'deployment.environment',
    ],
    ['JSON', () => new JsonExporter({ url: `${rx.url}/v1/traces` }), 'deployment.environment.name'],
    [
      'JSON + gzip',
      () => new JsonExporter({ url: `${rx.url}/v1/traces`, compression: CompressionAlgorithm.GZIP }),
      'deployment.environment',
    ],
  ] as const

  for (const [name, make, envKey] of cases) {
    it(`receives spans exported as ${name}, under their service and env, joined to the gateway trace`, async () => {
      await exportWith(make(), { key: envKey, value: 'staging-eu' })
      expect(received).toHaveLength(2)
      const server = received.find((s) => s.name === 'POST /charge')!
      const child = received.find((s) => s.name === 'db query')!
      expect(server).toMatchObject({
        traceId: GATEWAY_TRACE,
        parentSpanId: GATEWAY_SPAN,
        service: 'payments',
        env: 'staging-eu',
        kind: 2,
        statusCode: 2,
        httpStatus: 502,
        requestId: 'rid-7',
        source: 'otlp',
        route: '',
      })
      expect(server.attributes).toMatchObject({
        retries: 2,
        cached: false,
        'otel.scope.name': 'mock-payments',
        'otel.status_description': 'card declined',
      })
      expect(server.durationMs).toBeGreaterThanOrEqual(0)
      expect(Math.abs(server.startTimeMs - Date.now())).toBeLessThan(60_000)
      expect(child).toMatchObject({ traceId: GATEWAY_TRACE, parentSpanId: server.spanId, kind: 3 })
    })
  }
})

async function post(body: Uint8Array | string, headers: Record<string, string>, path = '/v1/traces') {
  const res = await fetch(`${rx.url}${path}`, { method: 'POST', headers, body })
  return { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) }
}
const text = (b: Uint8Array) => new TextDecoder().decode(b)

const jsonSpan = (over: Record<string, unknown> = {}) => ({
  traceId: GATEWAY_TRACE,
  spanId: '1111111111111111',
  name: 'op',
  kind: 2,
  startTimeUnixNano: '1764000000000000000',
  endTimeUnixNano: '1764000000250000000',
  attributes: [{ key: 'http.response.status_code', value: { intValue: '200' } }],
  ...over,
})
const jsonRequest = (spans: unknown[]) =>
  JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'orders' } }] },
        scopeSpans: [{ scope: { name: 's' }, spans }],
      },
    ],
  })

describe('OTLP env of a span', () => {
  const withResource = (attrs: Record<string, string>) =>
    JSON.stringify({
      resourceSpans: [
        {
          resource: {
            attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: { stringValue: v } })),
          },
          scopeSpans: [{ scope: { name: 's' }, spans: [jsonSpan()] }],
        },
      ],
    })
  it('takes the env from deployment.environment(.name), else cloud.provider:cloud.region, else the default (marked)', () => {
    const env = (attrs: Record<string, string>) =>
      decodeOtlpJson(withResource(attrs), { defaultEnv: 'gw' }).spans[0]
    expect(
      env({ 'service.name': 'a', 'deployment.environment.name': 'onprem', 'cloud.provider': 'aws' }).env,
    ).toBe('onprem')
    const aws = env({
      'service.name': 'a',
      'cloud.provider': 'aws',
      'cloud.region': 'eu-west-1',
      'service.instance.id': 'i-1',
    })
    expect(aws.env).toBe('aws:eu-west-1')
    expect(aws.attributes).toMatchObject({
      'cloud.provider': 'aws',
      'cloud.region': 'eu-west-1',
      'service.instance.id': 'i-1',
    })
    expect(env({ 'service.name': 'a', 'cloud.provider': 'gcp' }).env).toBe('gcp')
    const unknown = env({ 'service.name': 'a' })
    expect(unknown.env).toBe('gw')
    expect(unknown.attributes['vigil.env_defaulted']).toBe(true)
  })
})

describe('OTLP/HTTP ingest: errors and partial success', () => {
  it('answers partial success naming the rejected spans and keeps the valid ones', async () => {
    const r = await post(
      jsonRequest([
        jsonSpan(),
        jsonSpan({ traceId: 'xyz' }),
        jsonSpan({ spanId: '2222222222222222', endTimeUnixNano: '1' }),
      ]),
      { 'content-type': 'application/json' },
    )
    expect(r.status).toBe(200)
    const body = JSON.parse(text(r.body))
    expect(body.partialSuccess.rejectedSpans).toBe('2')
    expect(body.partialSuccess.errorMessage).toMatch(/spans\[1\]: traceId must be 16 bytes/)
    expect(body.partialSuccess.errorMessage).toMatch(/spans\[2\]: startTimeUnixNano/)
    expect(received).toHaveLength(1)
    expect(received[0]).toMatchObject({
      service: 'orders',
      env: 'gw-env',
      durationMs: 250,
      httpStatus: 200,
      startTimeMs: 1764000000000,
    })
  })

  it('answers partial success in protobuf for a protobuf request', async () => {
    // hand-built request: one span with an 8-byte trace id (invalid)
    const { ExportTraceServiceRequest } = await import('../../src/telemetry/otlp-schema.js')
    const msg = ExportTraceServiceRequest.fromObject({
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: Buffer.alloc(8, 1),
                  spanId: Buffer.alloc(8, 2),
                  name: 'x',
                  startTimeUnixNano: 1,
                  endTimeUnixNano: 2,
                },
              ],
            },
          ],
        },
      ],
    })
    const r = await post(ExportTraceServiceRequest.encode(msg).finish(), {
      'content-type': 'application/x-protobuf',
    })
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('application/x-protobuf')
    const resp = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(r.body), {
      longs: Number,
    }) as {
      partialSuccess: { rejectedSpans: number; errorMessage: string }
    }
    expect(resp.partialSuccess.rejectedSpans).toBe(1)
    expect(resp.partialSuccess.errorMessage).toMatch(/traceId/)
  })

  it('answers 400 with the reason for a malformed protobuf body', async () => {
    const r = await post(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0x0f, 1]), {
      'content-type': 'application/x-protobuf',
    })
    expect(r.status).toBe(400)
  })

  it('answers 400 with the reason for malformed JSON and for bad gzip', async () => {
    const r = await post('{"resourceSpans": [', { 'content-type': 'application/json' })
    expect(r.status).toBe(400)
    expect(JSON.parse(text(r.body)).message).toMatch(/VGL_ERR_OTLP_MALFORMED: malformed OTLP request: JSON/)
    const g = await post('not gzip', { 'content-type': 'application/json', 'content-encoding': 'gzip' })
    expect(g.status).toBe(400)
    expect(JSON.parse(text(g.body)).message).toMatch(/gzip/)
    const shape = await post('{"resourceSpans": 5}', { 'content-type': 'application/json' })
    expect(shape.status).toBe(400)
    expect(JSON.parse(text(shape.body)).message).toMatch(/resourceSpans must be an array/)
  })

  it('answers 413 for a body over maxBodyBytes, before and after gunzip', async () => {
    const big = jsonRequest(
      Array.from({ length: 600 }, (_, i) => jsonSpan({ spanId: (i + 1).toString(16).padStart(16, '0') })),
    )
    expect(big.length).toBeGreaterThan(64 * 1024)
    const r = await post(big, { 'content-type': 'application/json' })
    expect(r.status).toBe(413)
    expect(JSON.parse(text(r.body)).message).toMatch(/maxBodyBytes=65536/)
    const z = gzipSync(big)
    expect(z.length).toBeLessThan(64 * 1024)
    const rz = await post(z, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
    expect(rz.status).toBe(413)
    expect(received).toHaveLength(0)
  })

  it('answers 415 for another content type', async () => {
    const r = await post('x', { 'content-type': 'text/plain' })
    expect(r.status).toBe(415)
    expect(JSON.parse(text(r.body)).message).toMatch(/application\/x-protobuf or application\/json/)
  })

  it('answers 404 for other paths and 405 for other methods', async () => {
    expect((await post('{}', { 'content-type': 'application/json' }, '/v1/metrics')).status).toBe(404)
    expect((await fetch(`${rx.url}/v1/traces`)).status).toBe(405)
  })

  it('answers 503 with Retry-After when the bus refuses the spans, so the exporter retries', async () => {
    sinkFails = true
    const r = await post(jsonRequest([jsonSpan()]), { 'content-type': 'application/json' })
    expect(r.status).toBe(503)
    expect(r.headers.get('retry-after')).toBe('5')
  })
})

describe('OTLP/HTTP ingest into the bus', () => {
  it('publishes ingested spans to vigil.spans as decodable batches', async () => {
    const bus = new MemoryBus()
    const rx2 = await startOtlpReceiver({ host: '127.0.0.1', port: 0 }, busSpanSink(bus, { maxBatchSize: 2 }))
    const got: SpanRecord[] = []
    await bus.subscribe('vigil.spans', (m) => (got.push(...decodeSpans(m.data)), m.ack()), {
      durable: 'store',
    })
    const spans = [1, 2, 3].map((i) => jsonSpan({ spanId: String(i).padStart(16, '0') }))
    const r = await fetch(`${rx2.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: jsonRequest(spans),
    })
    expect(r.status).toBe(200)
    const until = Date.now() + 10_000
    while (got.length < 3 && Date.now() < until) await new Promise((res) => setTimeout(res, 20))
    expect(got.map((s) => s.spanId)).toEqual(['0000000000000001', '0000000000000002', '0000000000000003'])
    await rx2.close()
    await bus.close()
  })

  it('closes soon after answering an export that was in flight on a keep-alive connection', async () => {
    let release = () => {}
    let inSink = () => {}
    const waiting = new Promise<void>((r) => (inSink = r))
    const rx3 = await startOtlpReceiver(
      { host: '127.0.0.1', port: 0 },
      {
        maxBatchSize: 512,
        publish: () =>
          new Promise<void>((r) => {
            release = r
            inSink()
          }),
      },
    )
    const agent = new Agent({ keepAlive: true })
    const answered = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const body = jsonRequest([jsonSpan()])
      const req = request(
        `${rx3.url}/v1/traces`,
        { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume()
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }))
        },
      )
      req.on('error', reject)
      req.end(body)
    })
    await waiting // the export waits in the sink (a fixed 200 ms was too short on a loaded machine)
    const t0 = Date.now()
    const closed = rx3.close().then(() => Date.now() - t0)
    await new Promise((r) => setTimeout(r, 300))
    release()
    expect((await answered).status).toBe(200)
    // before: the connection stayed open for the receiver's 65 s keep-alive timeout
    expect(await closed).toBeLessThan(2_000)
    agent.destroy()
  })
})
