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
