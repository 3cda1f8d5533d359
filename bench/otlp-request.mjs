// An OTLP ExportTraceServiceRequest made by the official OpenTelemetry serializers
// (otlp-transformer) from spans recorded by sdk-trace-base, protobuf and JSON: what the OTLP
// benchmarks decode.
import { randomBytes } from 'node:crypto'
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api'
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'

export function makeRequest(spansPerRequest) {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'payments',
      'deployment.environment.name': 'staging',
    }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  })
  const tracer = provider.getTracer('bench')
  for (let i = 0; i < spansPerRequest; i++) {
    const ctx = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      traceFlags: 1,
      isRemote: true,
    })
    const s = tracer.startSpan(
      'POST /charge',
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': 'POST',
          'url.path': '/charge',
          'http.response.status_code': 200,
          'http.request.header.x-request-id': [randomBytes(8).toString('hex')],
          'server.address': 'payments.internal',
        },
      },
      ctx,
    )
    s.end()
  }
  const spans = exporter.getFinishedSpans()
  return {
    protobuf: Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)),
    json: Buffer.from(JsonTraceSerializer.serializeRequest(spans)),
  }
}
