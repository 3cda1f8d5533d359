/**
 * @module The protobuf messages of OTLP trace export that Vigil decodes, written as a protobufjs
 * JSON descriptor. Field numbers are those of the OpenTelemetry protocol specification
 * (opentelemetry-proto v1: collector/trace/v1/trace_service.proto, trace/v1/trace.proto,
 * common/v1/common.proto, resource/v1/resource.proto). Only the fields Vigil reads are declared;
 * protobuf decoders skip the rest (span events, links, trace state), which keeps decoding fast.
 */
import protobuf from 'protobufjs'

const descriptor = {
  nested: {
    otlp: {
      nested: {
        ExportTraceServiceRequest: {
          fields: { resourceSpans: { rule: 'repeated', type: 'ResourceSpans', id: 1 } },
        },
        ExportTraceServiceResponse: {
          fields: { partialSuccess: { type: 'ExportTracePartialSuccess', id: 1 } },
        },
        ExportTracePartialSuccess: {
          fields: { rejectedSpans: { type: 'int64', id: 1 }, errorMessage: { type: 'string', id: 2 } },
        },
        ResourceSpans: {
          fields: {
            resource: { type: 'Resource', id: 1 },
            scopeSpans: { rule: 'repeated', type: 'ScopeSpans', id: 2 },
            schemaUrl: { type: 'string', id: 3 },
          },
        },
        Resource: {
          fields: {
            attributes: { rule: 'repeated', type: 'KeyValue', id: 1 },
            droppedAttributesCount: { type: 'uint32', id: 2 },
          },
        },
        ScopeSpans: {
          fields: {
            scope: { type: 'InstrumentationScope', id: 1 },
            spans: { rule: 'repeated', type: 'Span', id: 2 },
            schemaUrl: { type: 'string', id: 3 },
          },
        },
        InstrumentationScope: {
          fields: { name: { type: 'string', id: 1 }, version: { type: 'string', id: 2 } },
        },
        Span: {
          fields: {
            traceId: { type: 'bytes', id: 1 },
            spanId: { type: 'bytes', id: 2 },
            parentSpanId: { type: 'bytes', id: 4 },
            name: { type: 'string', id: 5 },
            kind: { type: 'int32', id: 6 },
            startTimeUnixNano: { type: 'fixed64', id: 7 },
            endTimeUnixNano: { type: 'fixed64', id: 8 },
            attributes: { rule: 'repeated', type: 'KeyValue', id: 9 },
            status: { type: 'Status', id: 15 },
            flags: { type: 'fixed32', id: 16 },
          },
        },
        Status: { fields: { message: { type: 'string', id: 2 }, code: { type: 'int32', id: 3 } } },
        KeyValue: { fields: { key: { type: 'string', id: 1 }, value: { type: 'AnyValue', id: 2 } } },
        AnyValue: {
          oneofs: {
            value: {
              oneof: [
                'stringValue',
                'boolValue',
                'intValue',
                'doubleValue',
                'arrayValue',
                'kvlistValue',
                'bytesValue',
              ],
            },
          },
          fields: {
            stringValue: { type: 'string', id: 1 },
            boolValue: { type: 'bool', id: 2 },
            intValue: { type: 'int64', id: 3 },
            doubleValue: { type: 'double', id: 4 },
            arrayValue: { type: 'ArrayValue', id: 5 },
            kvlistValue: { type: 'KeyValueList', id: 6 },
            bytesValue: { type: 'bytes', id: 7 },
          },
        },
        ArrayValue: { fields: { values: { rule: 'repeated', type: 'AnyValue', id: 1 } } },
        KeyValueList: { fields: { values: { rule: 'repeated', type: 'KeyValue', id: 1 } } },
        /** google.rpc.Status, the body of OTLP error responses */
        RpcStatus: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 } } },
      },
    },
  },
}

const root = protobuf.Root.fromJSON(descriptor)
export const ExportTraceServiceRequest = root.lookupType('otlp.ExportTraceServiceRequest')
export const ExportTraceServiceResponse = root.lookupType('otlp.ExportTraceServiceResponse')
export const RpcStatus = root.lookupType('otlp.RpcStatus')

/** A decoded 64-bit integer: protobufjs gives a Long when `long` is installed, else a number. */
export type Int64 = number | { toNumber(): number } | string

export interface PbAnyValue {
  stringValue?: string
  boolValue?: boolean
  intValue?: Int64
  doubleValue?: number
  arrayValue?: { values?: PbAnyValue[] }
  kvlistValue?: { values?: PbKeyValue[] }
  bytesValue?: Uint8Array
  /** which member of the oneof is set (protobufjs virtual oneof property) */
  value?: string
}
export interface PbKeyValue {
  key: string
  value?: PbAnyValue | null
}
export interface PbSpan {
  traceId: Uint8Array
  spanId: Uint8Array
  parentSpanId: Uint8Array
  name: string
  kind: number
  startTimeUnixNano: Int64
  endTimeUnixNano: Int64
  attributes: PbKeyValue[]
  status?: { code?: number; message?: string } | null
}
export interface PbRequest {
  resourceSpans: Array<{
    resource?: { attributes: PbKeyValue[] } | null
    scopeSpans: Array<{ scope?: { name?: string; version?: string } | null; spans: PbSpan[] }>
  }>
}
