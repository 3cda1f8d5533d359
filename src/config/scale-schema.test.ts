import { describe, expect, it } from 'vitest'
import { parseConfigText } from './load.js'

const base = (scale: string, extra = '') => `
services:
  orders:
    targets: ['http://127.0.0.1:9001']
${extra}    scale:
${scale
  .trim()
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
routes:
  - { path: /, service: orders }
`

function problems(text: string): string {
  try {
    parseConfigText(text, 'vigil.yaml')
    return ''
  } catch (err) {
    return (err as Error).message
  }
}

describe('services.*.scale', () => {
  it('takes a full block and fills the defaults', () => {
    const cfg = parseConfigText(
      base(`
mode: enforce
min: 1
max: 5
capacityPerReplica: 40
actuator: { kind: process, command: [vigil, mock, --port, $PORT] }`),
      'vigil.yaml',
    )
    expect(cfg.services.orders.scale).toMatchObject({
      mode: 'enforce',
      min: 1,
      max: 5,
      capacityPerReplica: 40,
      targetUtilization: 0.8,
      leadTimeMs: 120_000,
      scaleDownStabilizationMs: 1_800_000,
      headroomBudget: 0.18,
      actuator: {
        kind: 'process',
        command: ['vigil', 'mock', '--port', '$PORT'],
        healthPath: '/health',
        startTimeoutMs: 30_000,
      },
    })
  })

  it('names the field: min above max, zero capacity, a lead time shorter than the health check', () => {
    expect(problems(base('min: 6\nmax: 2'))).toBe(
      'vigil.yaml: services.orders.scale.min: 6 is above max 2; lower min or raise max',
    )
    expect(problems(base('capacityPerReplica: 0'))).toMatch(
      /^vigil\.yaml: services\.orders\.scale\.capacityPerReplica: expected requests per second > 0/,
    )
    expect(
      problems(
        base(
          'leadTimeMs: 5000',
          '    healthCheck: { path: /health, intervalMs: 3000, healthyThreshold: 2 }\n',
        ),
      ),
    ).toBe(
      'vigil.yaml: services.orders.scale.leadTimeMs: 5000 ms is shorter than a new replica needs to pass its health check (healthCheck.intervalMs 3000 × healthyThreshold 2 = 6000 ms); raise leadTimeMs',
    )
    expect(problems(base('mode: enforce'))).toMatch(
      /services\.orders\.scale\.actuator: mode enforce needs an actuator/,
    )
    expect(problems(base('actuator: { kind: ecs }'))).toMatch(/services\.orders\.scale\.actuator\.kind/)
    expect(problems(base('actuator: { kind: docker }'))).toMatch(/services\.orders\.scale\.actuator\.image/)
    expect(problems(base('targetUtilization: 1.5'))).toMatch(/services\.orders\.scale\.targetUtilization/)
    expect(problems(base('minReplicas: 1'))).toMatch(/services\.orders\.scale\.minReplicas: unknown key/)
  })

  it('takes a learned capacity and names the field of a bad one', () => {
    const cfg = parseConfigText(
      base('capacityPerReplica: { learn: true, initial: 40, max: 90 }'),
      'vigil.yaml',
    )
    expect(cfg.services.orders.scale?.capacityPerReplica).toEqual({
      learn: true,
      initial: 40,
      max: 90,
      latencyMultiple: 2,
      latencyQuantile: 'p95',
      minWindows: 60,
    })
    expect(problems(base('capacityPerReplica: { learn: true }'))).toMatch(
      /^vigil\.yaml: services\.orders\.scale\.capacityPerReplica\.initial: learning needs a starting capacity/,
    )
    expect(problems(base('capacityPerReplica: { learn: true, initial: 40, min: 50 }'))).toMatch(
      /services\.orders\.scale\.capacityPerReplica\.min: 50 is above initial 40/,
    )
    expect(problems(base('capacityPerReplica: { learn: true, initial: 40, max: 30 }'))).toMatch(
      /services\.orders\.scale\.capacityPerReplica\.max: 30 is below initial 40/,
    )
    expect(problems(base('capacityPerReplica: { learn: true, initial: -1 }'))).toMatch(
      /services\.orders\.scale\.capacityPerReplica\.initial: expected requests per second > 0/,
    )
    expect(problems(base('capacityPerReplica: { learn: true, initial: 40, latencyQuantile: p50 }'))).toMatch(
      /services\.orders\.scale\.capacityPerReplica/,
    )
    expect(problems(base('capacityPerReplica: { learn: true, initial: 40, minWindows: 2 }'))).toMatch(
      /services\.orders\.scale\.capacityPerReplica\.minWindows: expected at least 6 windows/,
    )
    expect(problems(base('capacityPerReplica: auto'))).toMatch(
      /services\.orders\.scale\.capacityPerReplica: expected requests per second > 0, or \{ learn: true, initial: N \}/,
    )
    expect(problems(base('capacityPerReplica: { initial: 40, learn: true, ceiling: 9 }'))).toMatch(
      /services\.orders\.scale\.capacityPerReplica\.ceiling: unknown key/,
    )
  })
})
