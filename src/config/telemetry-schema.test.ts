import { describe, expect, it } from 'vitest'
import { parseConfigText } from './load.js'

const base = [
  'services: { orders: { targets: [http://127.0.0.1:9001] } }',
  'routes: [ { path: /, service: orders } ]',
]
const parse = (...lines: string[]) => parseConfigText([...base, ...lines].join('\n'), 'vigil.yaml', {})

describe('telemetry: and bus: config', () => {
  it('fills every default when the sections are absent', () => {
    const cfg = parse()
    expect(cfg.telemetry).toEqual({
      enabled: true,
      windowMs: 10_000,
      maxSeries: 10_000,
      maxQueueSize: 20_000,
      spans: { sampleRate: 0.01, maxQueueSize: 4096, maxBatchSize: 512 },
      otlp: {
        enabled: true,
        host: '0.0.0.0',
        port: 4318,
        maxBodyBytes: 4 * 1024 * 1024,
        decodeWorkers: 1,
        decodeQueue: 4,
      },
    })
    expect(cfg.bus).toEqual({ kind: 'memory' })
  })

  it('fills nested defaults next to the keys that are set', () => {
    const cfg = parse('telemetry: { spans: { sampleRate: 0.5 }, otlp: { port: 0 } }', 'bus: { kind: nats }')
    expect(cfg.telemetry.spans).toEqual({ sampleRate: 0.5, maxQueueSize: 4096, maxBatchSize: 512 })
    expect(cfg.telemetry.otlp.port).toBe(0)
    expect(cfg.bus).toMatchObject({
      kind: 'nats',
      servers: '127.0.0.1:4222',
      subjectPrefix: 'vigil',
      streamPrefix: 'VIGIL',
    })
  })

  it('names the field of a bad value', () => {
    expect(() => parse('telemetry: { spans: { sampleRate: 2 } }')).toThrow(
      /vigil\.yaml: telemetry\.spans\.sampleRate: .*got 2/,
    )
    expect(() => parse('bus: { kind: nats, subjectPrefix: "vigil.>" }')).toThrow(
      /bus\.subjectPrefix: subject prefixes are dot-separated tokens without wildcards/,
    )
    expect(() => parse('telemetry: { windowMs: 10 }')).toThrow(/telemetry\.windowMs/)
    expect(() => parse('telemetry: { otlp: { prot: 4318 } }')).toThrow(/telemetry\.otlp\.prot: unknown key/)
  })
})
