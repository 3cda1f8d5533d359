import { afterEach, describe, expect, it } from 'vitest'
import { validateConfig } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { NOOP_RECORDER } from '../telemetry/recorder.js'
import { RouteTable, TargetRegistry } from './route-table.js'

function config(routes: unknown[]): Config {
  const r = validateConfig({
    services: { users: { targets: ['http://127.0.0.1:1'] }, orders: { targets: ['http://127.0.0.1:2'] } },
    routes,
  })
  if (r.config === null) throw new Error(JSON.stringify(r.problems))
  return r.config
}

const tables: RouteTable[] = []
const registries: TargetRegistry[] = []
function build(routes: unknown[]): RouteTable {
  const registry = new TargetRegistry()
  const t = new RouteTable(config(routes), NOOP_RECORDER, registry)
  tables.push(t)
  registries.push(registry)
  return t
}

afterEach(async () => {
  for (const reg of registries.splice(0)) await Promise.all([...reg.all()].map((t) => t.close(false)))
  tables.length = 0
})

describe('RouteTable routing', () => {
  it('matches a prefix route on the path itself and everything below it, but not a sibling', () => {
    const t = build([{ path: '/api', service: 'users' }])
    expect(t.find('GET', '/api')?.name).toBe('/api')
    expect(t.find('GET', '/api/v1/users/7')?.name).toBe('/api')
    expect(t.find('GET', '/apix')).toBeNull()
    expect(t.find('GET', '/')).toBeNull()
  })

  it('matches an exact route only on its exact path', () => {
    const t = build([{ path: '/health', match: 'exact', service: 'users' }])
    expect(t.find('GET', '/health')).not.toBeNull()
    expect(t.find('GET', '/health/deep')).toBeNull()
  })

  it('matches parameterised segments', () => {
    const t = build([
      { name: 'user', path: '/users/:id', match: 'exact', service: 'users' },
      { name: 'user-orders', path: '/users/:id/orders', service: 'orders' },
    ])
    expect(t.find('GET', '/users/42')?.name).toBe('user')
    expect(t.find('GET', '/users/42/orders/9')?.name).toBe('user-orders')
    expect(t.find('GET', '/users')).toBeNull()
  })

  it('prefers the more specific route over a catch-all prefix', () => {
    const t = build([
      { name: 'all', path: '/', service: 'users' },
      { name: 'orders', path: '/orders', service: 'orders' },
    ])
    expect(t.find('GET', '/orders/1')?.name).toBe('orders')
    expect(t.find('GET', '/anything')?.name).toBe('all')
    expect(t.find('GET', '/')?.name).toBe('all')
  })

  it('routes by method', () => {
    const t = build([
      { name: 'read', path: '/items', methods: ['GET', 'HEAD'], service: 'users' },
      { name: 'write', path: '/items', methods: ['POST'], service: 'orders' },
    ])
    expect(t.find('GET', '/items/1')?.name).toBe('read')
    expect(t.find('POST', '/items')?.name).toBe('write')
    expect(t.find('DELETE', '/items')).toBeNull()
  })

  it('precomputes the plan: service, timeouts, retry policy and limit fields', () => {
    const t = build([
      {
        path: '/o',
        service: 'orders',
        totalTimeoutMs: 5000,
        retry: { attempts: 4, on: ['503'] },
        limit: { priority: 'high', cost: 3 },
      },
    ])
    const plan = t.find('PUT', '/o')!
    expect(plan.service.name).toBe('orders')
    expect(plan.totalTimeoutMs).toBe(5000)
    expect(plan.attempts).toBe(4)
    expect([plan.retryStatus(502), plan.retryStatus(503), plan.retryOnConnect]).toEqual([false, true, false])
    expect([plan.priority, plan.cost]).toEqual(['high', 3])
  })

  it('describes its routes for the admin API', () => {
    const t = build([{ path: '/users/:id', service: 'users', methods: ['GET'] }])
    expect(t.plans.map((p) => p.view())).toEqual([
      {
        name: '/users/:id',
        path: '/users/:id',
        match: 'param',
        methods: ['GET'],
        service: 'users',
        priority: 'normal',
      },
    ])
  })

  it('shares target state between tables built from the same registry', () => {
    const registry = new TargetRegistry()
    registries.push(registry)
    const a = new RouteTable(config([{ path: '/', service: 'users' }]), NOOP_RECORDER, registry)
    const b = new RouteTable(config([{ path: '/', service: 'users' }]), NOOP_RECORDER, registry)
    expect(a.services.get('users')!.balancer.targets[0]).toBe(b.services.get('users')!.balancer.targets[0])
  })
})
