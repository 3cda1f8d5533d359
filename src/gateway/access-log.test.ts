import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { AccessLog, IsoClock, jsonString } from './access-log.js'
import type { Exchange } from './exchange.js'

describe('jsonString', () => {
  it('writes the same literal as JSON.stringify, escaping only what JSON needs', () => {
    for (const s of [
      '',
      'plain-ascii_/path?x=1',
      'quote " and backslash \\',
      'controls \u0000 \u0001 \n \r \t \u001f',
      'non-ascii é ü 日本',
      'emoji pair 😀',
      'lone high \ud800 and lone low \udc00',
      'del \u007f',
    ]) {
      expect(jsonString(s)).toBe(JSON.stringify(s))
      expect(JSON.parse(jsonString(s))).toBe(s)
    }
  })
})

describe('IsoClock', () => {
  it('formats like Date.prototype.toISOString, across second boundaries and within one', () => {
    const clock = new IsoClock()
    const base = Date.UTC(2026, 10, 26, 7, 2, 3)
    for (const ms of [
      base,
      base + 1,
      base + 9,
      base + 10,
      base + 99,
      base + 100,
      base + 999,
      base + 1000,
      base + 61_005,
      0,
    ]) {
      expect(clock.format(ms)).toBe(new Date(ms).toISOString())
    }
  })
})

function exchange(over: Partial<Record<string, unknown>> = {}): Exchange {
  return {
    requestId: 'req "1"',
    traceId: '0af7651916cd43dd8448eb211c80319c',
    plan: { name: 'orders', service: { name: 'orders-svc' } },
    method: 'GET',
    path: '/orders/\u0001x',
    target: 'http://127.0.0.1:9001',
    status: 200,
    outcome: 'ok',
    latencyMs: 1.23456,
    attempts: 1,
    bytesIn: 0,
    bytesOut: 45,
    ...over,
  } as unknown as Exchange
}

describe('AccessLog', () => {
  it('writes pino-shaped JSON lines that parse back to the request, and flushes a quiet log without close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-al-'))
    const file = join(dir, 'a.log')
    const log = new AccessLog({ enabled: true, sampleRate: 1, destination: file, format: 'json' })
    log.write(exchange())
    log.writeUnrouted('r2', 'POST', '/nope', 404, 0.5)
    // the periodic push (250 ms) hands the partial chunk over; sonic-boom writes it soon after
    const deadline = Date.now() + 3000
    let text = ''
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50))
      try {
        text = readFileSync(file, 'utf8')
      } catch {
        text = ''
      }
      if (text.split('\n').length >= 3) break
    }
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toHaveLength(2)
    expect(lines[0]).toEqual({
      level: 30,
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      type: 'access',
      requestId: 'req "1"',
      traceId: '0af7651916cd43dd8448eb211c80319c',
      route: 'orders',
      service: 'orders-svc',
      method: 'GET',
      path: '/orders/\u0001x',
      target: 'http://127.0.0.1:9001',
      status: 200,
      outcome: 'ok',
      latencyMs: 1.235,
      attempts: 1,
      bytesIn: 0,
      bytesOut: 45,
    })
    expect(lines[1]).toMatchObject({ requestId: 'r2', route: null, status: 404, outcome: 'no_route' })
    await log.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('close() writes every line of a large burst, in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-al-'))
    const file = join(dir, 'a.log')
    const log = new AccessLog({ enabled: true, sampleRate: 1, destination: file, format: 'json' })
    for (let i = 0; i < 5000; i++) log.write(exchange({ requestId: `r${i}` }))
    await log.close()
    const ids = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { requestId: string }).requestId)
    expect(ids).toHaveLength(5000)
    expect(ids[0]).toBe('r0')
    expect(ids[4999]).toBe('r4999')
    rmSync(dir, { recursive: true, force: true })
  })

  it('samples successes but always logs errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-al-'))
    const file = join(dir, 'a.log')
    const log = new AccessLog({ enabled: true, sampleRate: 0, destination: file, format: 'json' })
    log.write(exchange())
    log.write(exchange({ status: 502, outcome: 'connect_error', requestId: 'bad' }))
    await log.close()
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(JSON.parse(lines[0])).toMatchObject({ requestId: 'bad', status: 502 })
    rmSync(dir, { recursive: true, force: true })
  })

  it('format ecs: Elastic Common Schema lines with trace.id and span.id, as Filebeat ingests them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-al-'))
    const file = join(dir, 'a.log')
    const log = new AccessLog({ enabled: true, sampleRate: 1, destination: file, format: 'ecs' })
    log.write(exchange({ spanId: '00f067aa0ba902b7' }))
    log.write(exchange({ status: 502, outcome: 'connect_error', requestId: 'bad', traceId: '' }))
    log.writeUnrouted('r3', 'GET', '/nope', 404, 0.25)
    await log.close()
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines[0]).toEqual({
      '@timestamp': expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      'log.level': 'info',
      message: 'GET /orders/\u0001x 200',
      'ecs.version': '8.11.0',
      event: {
        kind: 'event',
        category: ['web'],
        type: ['access'],
        dataset: 'vigil.access',
        outcome: 'success',
        duration: 1_234_560,
      },
      http: {
        request: { id: 'req "1"', method: 'GET', bytes: 0 },
        response: { status_code: 200, bytes: 45 },
      },
      url: { path: '/orders/\u0001x' },
      trace: { id: '0af7651916cd43dd8448eb211c80319c' },
      span: { id: '00f067aa0ba902b7' },
      service: { name: 'vigil', type: 'gateway' },
      vigil: {
        route: 'orders',
        service: 'orders-svc',
        target: 'http://127.0.0.1:9001',
        outcome: 'ok',
        latencyMs: 1.235,
        attempts: 1,
      },
    })
    // a failure is an error line with outcome failure; no trace id: no trace or span fields
    expect(lines[1]).toMatchObject({ 'log.level': 'error', event: { outcome: 'failure' } })
    expect(lines[1].trace).toBeUndefined()
    expect(lines[1].span).toBeUndefined()
    expect(lines[2]).toMatchObject({
      http: { request: { id: 'r3', method: 'GET' }, response: { status_code: 404 } },
      vigil: { route: null, outcome: 'no_route' },
    })
    rmSync(dir, { recursive: true, force: true })
  })
})
