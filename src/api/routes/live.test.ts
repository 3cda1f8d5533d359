/** @module Tests of the anomalies and forecast routes: query parsing, problem answers, and the sources' answers passed through. */
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { LiveAnomalies, type AnomalyQuery } from '../../control/anomalies.js'
import { LiveForecasts } from '../../control/forecasts.js'
import { anomalyRoutes } from './anomalies.js'
import { forecastRoutes } from './forecasts.js'

describe('GET /api/anomalies', () => {
  it('passes the query to the source and rejects a bad state or range naming the parameter', async () => {
    const seen: AnomalyQuery[] = []
    const app = Fastify()
    await app.register(
      anomalyRoutes({
        source: { anomalies: (q) => (seen.push(q), Promise.resolve([])) },
        now: () => 1_000_000,
      }),
    )
    const ok = await app.inject('/api/anomalies?service=orders&state=all&from=10&to=20')
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toEqual({ from: 10, to: 20, state: 'all', anomalies: [] })
    expect(seen[0]).toEqual({ fromMs: 10, toMs: 20, service: 'orders', env: undefined, state: 'all' })
    const def = await app.inject('/api/anomalies')
    expect(def.json()).toMatchObject({ from: 1_000_000 - 86_400_000, to: 1_000_000, state: 'open' })
    const bad = await app.inject('/api/anomalies?state=closed')
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({
      code: 'VGL_ERR_CONTROL_QUERY',
      message: 'state: expected open or all, got "closed"',
      // what to send, as for every other bad query parameter, not a pointer to the docs
      fix: 'send state as one of open, all, or leave it out',
    })
    const range = await app.inject('/api/anomalies?from=20&to=10')
    expect(range.statusCode).toBe(400)
    const time = await app.inject('/api/anomalies?from=yesterday')
    expect(time.body).toMatch(/from/)
    await app.close()
  })

  it('serves open anomalies of a live detector', async () => {
    const live = new LiveAnomalies()
    const app = Fastify()
    await app.register(anomalyRoutes({ source: live }))
    const res = await app.inject('/api/anomalies?state=open')
    expect(res.json()).toMatchObject({ anomalies: [] })
    // and how far it is from judging: no live series yet
    expect(res.json().learning).toEqual({
      series: 0,
      learningSeries: 0,
      windowsLearned: null,
      windowsNeeded: 91,
      etaMs: null,
      windowMs: 10_000,
      services: [],
    })
    await app.close()
  })
})

describe('GET /api/series/:key/forecast', () => {
  it('answers insufficient_history with 200, checks horizon, maps unknown keys to problems', async () => {
    const forecasts = new LiveForecasts({
      stepMs: 10_000,
      history: () => Promise.resolve([]),
      minHistory: 30,
    })
    const app = Fastify()
    await app.register(forecastRoutes({ source: forecasts }))
    const key = encodeURIComponent('orders|/api/orders|prod')
    const res = await app.inject(`/api/series/${key}/forecast?horizon=5`)
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ status: 'insufficient_history', have: 0, need: 30 })
    const bad = await app.inject(`/api/series/${key}/forecast?horizon=-3`)
    expect(bad.statusCode).toBe(400)
    expect(bad.body).toMatch(/horizon/)
    const tooFar = await app.inject(`/api/series/${key}/forecast?horizon=100000`)
    expect(tooFar.statusCode).toBe(400)
    const badKey = await app.inject(`/api/series/${encodeURIComponent('just-one-part')}/forecast`)
    expect(badKey.statusCode).toBe(400)
    expect(badKey.json()).toMatchObject({ code: 'VGL_ERR_CONTROL_SERIES_KEY' })
    await app.close()
  })
})
