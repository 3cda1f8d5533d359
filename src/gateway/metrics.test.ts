import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { registry } from '../metrics.js'
import { methodIndex, RouteMetrics } from './metrics.js'

async function requests(route: string): Promise<Record<string, number>> {
  const m = await registry.getSingleMetric('vigil_gateway_requests_total')!.get()
  const out: Record<string, number> = {}
  for (const v of m.values)
    if (v.labels.route === route) out[`${v.labels.method} ${v.labels.status_class}`] = v.value
  return out
}

describe('RouteMetrics request counts', () => {
  it('are read by the counter when scraped, and each scrape adds only what grew', async () => {
    const m = new RouteMetrics('metrics-test-a', 'svc')
    m.request(methodIndex('GET'), 200)
    m.request(methodIndex('GET'), 204)
    m.request(methodIndex('POST'), 503)
    m.request(methodIndex('BREW'), 101)
    expect(await requests('metrics-test-a')).toEqual({ 'GET 2xx': 2, 'POST 5xx': 1, 'OTHER 1xx': 1 })
    expect(await requests('metrics-test-a')).toEqual({ 'GET 2xx': 2, 'POST 5xx': 1, 'OTHER 1xx': 1 })
    expect(await registry.metrics()).toContain(
      'vigil_gateway_requests_total{route="metrics-test-a",service="svc",method="POST",status_class="5xx"} 1\n',
    )
    m.request(methodIndex('GET'), 404)
    m.request(methodIndex('GET'), 200)
    expect(await requests('metrics-test-a')).toEqual({
      'GET 2xx': 3,
      'GET 4xx': 1,
      'POST 5xx': 1,
      'OTHER 1xx': 1,
    })
  })

  it('continue across a reload: a new plan with the same route and service adds to the same series', async () => {
    const before = new RouteMetrics('metrics-test-b', 'svc')
    before.request(methodIndex('GET'), 200)
    expect(await requests('metrics-test-b')).toEqual({ 'GET 2xx': 1 })
    const after = new RouteMetrics('metrics-test-b', 'svc')
    after.request(methodIndex('GET'), 200)
    before.request(methodIndex('GET'), 200) // a request still finishing on the retired table
    expect(await requests('metrics-test-b')).toEqual({ 'GET 2xx': 3 })
  })
})

describe('RouteMetrics refusals', () => {
  async function refused(route: string): Promise<Record<string, number>> {
    const m = await registry.getSingleMetric('vigil_gateway_refused_total')!.get()
    const out: Record<string, number> = {}
    for (const v of m.values)
      if (v.labels.route === route)
        out[`${v.labels.method} ${v.labels.reason} ${v.labels.status_class} ${v.labels.service}`] = v.value
    return out
  }

  it('count by method, reason and status class beside the request counts, adding only what grew', async () => {
    const m = new RouteMetrics('metrics-test-f', 'svc')
    m.refused(methodIndex('GET'), 'no_target', 503)
    m.refused(methodIndex('GET'), 'no_target', 503)
    m.refused(methodIndex('POST'), 'rate_limited', 429)
    m.refused(methodIndex('DELETE'), 'client_gone', 499)
    m.refused(methodIndex('BREW'), 'circuit_open', 503)
    const first = {
      'GET no_target 5xx svc': 2,
      'POST rate_limited 4xx svc': 1,
      'DELETE client_gone 4xx svc': 1,
      'OTHER circuit_open 5xx svc': 1,
    }
    expect(await refused('metrics-test-f')).toEqual(first)
    expect(await refused('metrics-test-f')).toEqual(first)
    m.refused(methodIndex('GET'), 'circuit_open', 503)
    m.refused(methodIndex('GET'), 'no_target', 503)
    expect(await refused('metrics-test-f')).toEqual({
      ...first,
      'GET no_target 5xx svc': 3,
      'GET circuit_open 5xx svc': 1,
    })
    // labels in the counter's order, as the request counts print theirs
    expect(await registry.metrics()).toContain(
      'vigil_gateway_refused_total{route="metrics-test-f",service="svc",method="GET",reason="no_target",status_class="5xx"} 3\n',
    )
    // refusals are the gateway's answers on top of the request counts, not instead of them
    expect(await requests('metrics-test-f')).toEqual({})
  })

  it('continue across a reload and keep routes and services apart', async () => {
    const before = new RouteMetrics('metrics-test-g', 'svc')
    before.refused(methodIndex('GET'), 'unknown_api_key', 401)
    const after = new RouteMetrics('metrics-test-g', 'svc')
    after.refused(methodIndex('GET'), 'unknown_api_key', 401)
    new RouteMetrics('metrics-test-g', 'other').refused(methodIndex('PUT'), 'body_too_large', 413)
    expect(await refused('metrics-test-g')).toEqual({
      'GET unknown_api_key 4xx svc': 2,
      'PUT body_too_large 4xx other': 1,
    })
  })
})

describe('RouteMetrics request durations', () => {
  const NAME = 'vigil_gateway_request_duration_seconds'
  const durations = async (route: string) =>
    (await registry.getSingleMetric(NAME)!.get()).values.filter((v) => v.labels.route === route)

  /** what prom-client's own histogram exports for the same observations */
  async function reference(route: string, values: number[]) {
    const h = new Histogram({
      name: NAME,
      help: 'reference',
      labelNames: ['route', 'service'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [new Registry()],
    })
    for (const v of values) h.observe({ route, service: 'svc' }, v)
    return (await h.get()).values
  }

  it('export what prom-client would, bound edges and overflow included, adding only what grew', async () => {
    const m = new RouteMetrics('metrics-test-d', 'svc')
    const first = [0.0004, 0.001, 0.0011, 0.02, 0.02, 29.9, 30, 31, 400]
    for (const v of first) m.duration.observe(v)
    expect(await durations('metrics-test-d')).toEqual(await reference('metrics-test-d', first))
    expect(await durations('metrics-test-d')).toEqual(await reference('metrics-test-d', first))
    const second = [0.003, 0.25, 0.2500001]
    for (const v of second) m.duration.observe(v)
    const all = await durations('metrics-test-d')
    expect(all).toEqual(await reference('metrics-test-d', [...first, ...second]))
    const inf = all.find((v) => v.labels.le === '+Inf')
    expect(inf?.value).toBe(12)
  })

  it('continue across a reload, as the request counts do', async () => {
    const before = new RouteMetrics('metrics-test-e', 'svc')
    before.duration.observe(0.002)
    await durations('metrics-test-e')
    const after = new RouteMetrics('metrics-test-e', 'svc')
    after.duration.observe(0.2)
    before.duration.observe(0.002)
    expect(await durations('metrics-test-e')).toEqual(await reference('metrics-test-e', [0.002, 0.2, 0.002]))
  })
})
