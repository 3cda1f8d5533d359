import { readFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { VGL_ERR_API_LISTEN, VGL_ERR_CONFIG_INVALID } from '../../errors.js'
import { loadConfig } from '../../config/load.js'
import type { ServedCounts } from '../../gateway/index.js'
import { SelectingPolicy } from '../../scale/selector.js'
import { DEMO_SERVICES } from '../../sim/topology.js'
import {
  baselineLine,
  fitStatus,
  MOCKS,
  movedPortsLine,
  servedSummary,
  startOnFreePorts,
  type DemoListener,
} from './demo.js'

const counts = (requests: number, statusClass: ServedCounts['statusClass'], limited: number) => ({
  requests,
  statusClass,
  limited,
})

describe('servedSummary (the demo status line)', () => {
  it("shows the gateway's rate and status shares over the interval, refusals included", () => {
    const prev = counts(1000, [0, 900, 0, 80, 20], 70)
    // 5 s: 300 served, 120 throttled, 30 failed
    const now = counts(1450, [0, 1200, 0, 200, 50], 190)
    expect(servedSummary(prev, now, 5000)).toBe('gateway   90.0 req/s  2xx  66.7%  429  26.7%  5xx   6.7%')
  })

  it('shows no shares for an interval without requests, and no rate for an empty interval', () => {
    const c = counts(10, [0, 10, 0, 0, 0], 0)
    expect(servedSummary(c, c, 2000)).toBe('gateway    0.0 req/s  2xx   -    429   -    5xx   -  ')
    expect(servedSummary(counts(0, [0, 0, 0, 0, 0], 0), c, 0)).toMatch(
      /^gateway {4}0\.0 req\/s {2}2xx 100\.0%/,
    )
  })
})

describe('fitStatus (the status line on a terminal)', () => {
  const parts = [
    '[  305s] gateway   49.8 req/s  2xx  47.0%  429  38.6%  5xx  14.5%',
    'clients p50   47ms  p99   424ms',
    'shop ok (errors) · users x3 ok · payments ok',
    'anomalies 8 · alerts 1',
  ]
  const whole = parts.join(' | ')

  it('keeps the whole line when the terminal is wide enough', () => {
    expect(fitStatus(parts, 200)).toBe(whole)
    expect(fitStatus(parts, whole.length)).toBe(whole)
  })

  it('keeps the anomaly and alert counts on a common terminal width, dropping the padding and the middle parts first', () => {
    expect(fitStatus(parts, 156)).toBe(
      '[305s] gateway 49.8 req/s 2xx 47.0% 429 38.6% 5xx 14.5% | clients p50 47ms p99 424ms | shop ok (errors) · users x3 ok · payments ok | anomalies 8 · alerts 1',
    )
    expect(fitStatus(parts, 130)).toBe(
      '[305s] gateway 49.8 req/s 2xx 47.0% 429 38.6% 5xx 14.5% | shop ok (errors) · users x3 ok · payments ok | anomalies 8 · alerts 1',
    )
    expect(fitStatus(parts, 100)).toBe(
      '[305s] gateway 49.8 req/s 2xx 47.0% 429 38.6% 5xx 14.5% | anomalies 8 · alerts 1',
    )
    for (const width of [40, 60, 80, 100, 120, 140, 160]) {
      const line = fitStatus(parts, width)
      expect(line.length).toBeLessThanOrEqual(width)
      expect(line).toMatch(/ \| anomalies 8 · alerts 1$/)
    }
  })

  it('cuts the traffic, not the counts, on a very narrow terminal', () => {
    expect(fitStatus(parts, 50)).toBe('[305s] gateway 49.8 req/… | anomalies 8 · alerts 1')
  })
})

describe("the banner's baseline line (5xx with no incident)", () => {
  it("names every mock's error rate, and the shop's: 502 when any of its four services fails", () => {
    expect(baselineLine()).toBe(
      '  baseline   with no incident the mocks still fail a few requests, as real services do: ' +
        'users 0.1%, payments 0.5%, shop 0.8% (502 when one of its 4 services fails, 0.2% each); ' +
        'one in a window of a few requests shows as a small 5xx spike, the normal the detectors learn and do not flag',
    )
  })

  it('holds for the users replicas the autoscaler starts from examples/demo.yaml', () => {
    const config = loadConfig(new URL('../../../examples/demo.yaml', import.meta.url).pathname, {})
    const actuator = config.services.users.scale?.actuator
    const command = actuator?.kind === 'process' ? actuator.command : []
    const rate = Number(command[command.indexOf('--error-rate') + 1])
    expect(rate).toBe(MOCKS.find((m) => m.name === 'users')!.errorRate)
  })
})

describe("examples/demo.yaml's autoscaling (users)", () => {
  it('holds a replica it asked for: no scale-down within the stabilisation window of a scale-up', () => {
    const config = loadConfig(new URL('../../../examples/demo.yaml', import.meta.url).pathname, {})
    const s = config.services.users.scale!
    const stepMs = config.telemetry.windowMs
    let quick = 0
    const flaps: string[] = []
    // 30 compressed quarter-days of diurnal load around one replica boundary, noise and a 3x surge
    for (let seed = 1; seed <= 30; seed++) {
      const policy = new SelectingPolicy({
        limits: {
          min: s.min,
          max: s.max,
          capacityPerReplica: s.capacityPerReplica as number,
          targetUtilization: s.targetUtilization,
        },
        stabilizationMs: s.scaleDownStabilizationMs,
        startupMs: s.leadTimeMs,
        stepMs,
        budget: s.headroomBudget,
      })
      let rnd = 777 + seed * 31
      const random = () => (rnd = (rnd * 1103515245 + 12345) % 2147483648) / 2147483648
      let current = s.min
      let lastUpMs = -Infinity
      for (let atMs = 0; atMs < 900_000; atMs += stepMs) {
        const sec = atMs / 1000
        let observed = (6 + 4 * Math.sin((sec / 600) * 2 * Math.PI + seed)) * (0.7 + random() * 0.6)
        if (sec >= 540 && sec < 570) observed *= 3
        const d = policy.decide({ atMs: 1.8e12 + atMs, observed, current, forecast: null })
        if (d.desired < current && atMs - lastUpMs < s.scaleDownStabilizationMs) {
          quick++
          flaps.push(`seed ${seed} at ${sec}s: ${d.reason}`)
        }
        if (d.desired > current) lastUpMs = atMs
        current = d.desired
      }
    }
    // the default headroom budget (0.18) drops a forecast's replica at the next decisions in the
    // first minutes (27 times in these 30 runs): the demo would look erratic
    expect(quick, flaps.slice(0, 3).join('\n')).toBeLessThanOrEqual(3)
  })
})

describe("the README's request-journey examples", () => {
  it('name routes the demo has, so they answer when pasted against `vigil demo`', () => {
    const config = loadConfig(new URL('../../../examples/demo.yaml', import.meta.url).pathname, {})
    const routes = config.routes.map((r) => r.name)
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
    const section = readme.slice(readme.indexOf('## Request journeys'), readme.indexOf('## Command line'))
    const named = [
      ...[...section.matchAll(/api\/journeys\/([\w-]+)/g)].map((m) => m[1]),
      ...[...section.matchAll(/[?&]route=([\w-]+)/g)].map((m) => m[1]),
    ]
    expect(named.length).toBeGreaterThan(0)
    expect(named.filter((r) => !routes.includes(r))).toEqual([])
    // and $ADMIN, which they use, is said
    expect(section).toMatch(/ADMIN=http:\/\/127\.0\.0\.1:8081/)
  })
})

describe("examples/demo.yaml's journey SLO", () => {
  it("leaves room for the shop journey's designed failures, so a what-if compares something", () => {
    const config = loadConfig(new URL('../../../examples/demo.yaml', import.meta.url).pathname, {})
    // the shop answers 502 when any of its services fails: its share of failures with no incident
    const designed = 1 - DEMO_SERVICES.reduce((ok, s) => ok * (1 - s.errorRate), 1)
    // a minute of traces sampled at 0.1 estimates it at 1.3-2% (each service's prior half failure
    // weighs on few traces): an SLO inside that reads "breached" as things are, and every
    // scenario compares breached with breached
    expect(1 - config.journeys.slo.availability).toBeGreaterThanOrEqual(3.5 * designed)
  })
})

describe("the demo's ports (startOnFreePorts)", () => {
  const servers: Server[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
  })
  const listen = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const srv = createServer()
      srv.once('error', reject)
      srv.listen(port, '127.0.0.1', () => resolve(srv))
      servers.push(srv)
    })
  const portOf = (srv: Server) => (srv.address() as AddressInfo).port
  /** a port that was free a moment ago */
  const freePort = async () => {
    const srv = await listen(0)
    const port = portOf(srv)
    await new Promise((r) => srv.close(r))
    servers.splice(servers.indexOf(srv), 1)
    return port
  }
  const admin = (preferred: number, asked: boolean): DemoListener => ({
    name: 'admin',
    host: '127.0.0.1',
    preferred,
    flag: '--admin-port',
    asked,
    listenCode: VGL_ERR_API_LISTEN.code,
    error: VGL_ERR_API_LISTEN,
  })
  /** a start that binds the port as Vigil does, after another process took it on the first try */
  const racedStart = (calls: number[]) => async (ports: ReadonlyMap<string, number>) => {
    const port = ports.get('admin')!
    calls.push(port)
    if (calls.length === 1) await listen(port)
    try {
      return await listen(port)
    } catch {
      throw VGL_ERR_API_LISTEN(`admin.port ${port} is in use by another process`)
    }
  }

  it('starts once more on a fresh port when another process takes the chosen one before Vigil binds it', async () => {
    const preferred = await freePort()
    const calls: number[] = []
    const { started, ports } = await startOnFreePorts([admin(preferred, false)], racedStart(calls))
    expect(calls[0]).toBe(preferred)
    expect(calls).toHaveLength(2)
    expect(calls[1]).not.toBe(preferred)
    expect(portOf(started)).toBe(calls[1])
    expect(movedPortsLine([admin(preferred, false)], ports)).toBe(
      `  ports      in use by another process: ${preferred} (admin, now :${calls[1]}); --admin-port names a port to use instead`,
    )
  })

  it('fails with one line naming the flag when a port the user named is taken, before or during the start', async () => {
    const held = portOf(await listen(0))
    await expect(startOnFreePorts([admin(held, true)], () => Promise.resolve(0))).rejects.toThrow(
      `--admin-port ${held} is in use by another process: stop it, or set --admin-port to a free port, or leave it out for a free one`,
    )
    const named = await freePort()
    const calls: number[] = []
    const raced = startOnFreePorts([admin(named, true)], racedStart(calls))
    await expect(raced).rejects.toMatchObject({ code: 'VGL_ERR_API_LISTEN' })
    await expect(raced).rejects.toThrow(`--admin-port ${named} is in use by another process`)
    expect(calls).toEqual([named])
  })

  it('moves a default port that is taken and says so; a free one is kept and not mentioned', async () => {
    const held = portOf(await listen(0))
    const { ports } = await startOnFreePorts([admin(held, false)], () => Promise.resolve(0))
    expect(ports.get('admin')).not.toBe(held)
    expect(movedPortsLine([admin(held, false)], ports)).toMatch(`${held} (admin, now :${ports.get('admin')})`)
    const free = await freePort()
    const kept = await startOnFreePorts([admin(free, false)], () => Promise.resolve(0))
    expect(kept.ports.get('admin')).toBe(free)
    expect(movedPortsLine([admin(free, false)], kept.ports)).toBeNull()
  })

  it('throws any other start failure as it is, without starting again', async () => {
    const calls: number[] = []
    const bad = VGL_ERR_CONFIG_INVALID('demo.yaml: gateway.port: expected a number')
    await expect(
      startOnFreePorts([admin(0, false)], (ports) => {
        calls.push(ports.get('admin')!)
        return Promise.reject(bad)
      }),
    ).rejects.toBe(bad)
    expect(calls).toHaveLength(1)
  })
})
