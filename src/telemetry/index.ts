/** @module Public surface of telemetry: capture at the gateway, the codecs, sketches and OTLP ingest. */
export { NOOP_RECORDER, sentUpstream } from './recorder.js'
export type { Recorder, RequestEvent, RequestOutcome, SeriesKey, SeriesRecorder } from './recorder.js'
export type { RefusalCounts, Rollup, SpanRecord } from './types.js'
export { sentCount, upstream5xx } from './types.js'
export { RollupRecorder, OVERFLOW_SERIES, generateGatewayId } from './rollup-recorder.js'
export type { Publisher, RecorderStats, RollupRecorderOptions } from './rollup-recorder.js'
export { CODEC_VERSION, decodeRollup, decodeSpans, encodeRollup, encodeSpans, rollupId } from './codec.js'
export {
  DDSketch,
  LATENCY_RELATIVE_ACCURACY,
  createLatencySketch,
  decodeSketch,
  encodeSketch,
  mergeSketch,
} from './sketch.js'
export { isErrorEvent, sampleReason, traceRatio } from './span-sampler.js'
export type { SampleReason } from './span-sampler.js'
export { busSpanSink, decodeOtlpJson, decodeOtlpProtobuf, startOtlpReceiver } from './otlp-ingest.js'
export type {
  IngestResult,
  OtlpDecodeOptions,
  OtlpReceiver,
  OtlpReceiverOptions,
  OtlpSink,
} from './otlp-ingest.js'
