import { describe, expect, it } from 'vitest'
import { gaussian, testRng } from './detector.contract.js'
import { ClientOutliers, type ClientWindow } from './index.js'

/** A population of 60 clients with stable, heavy-tailed habits (client 0 is always the heaviest). */
function population(rng: () => number): (w: number) => ClientWindow[] {
  const habits = Array.from({ length: 60 }, (_, i) => ({
    rate: i === 0 ? 20_000 : Math.exp(3 + 2 * rng()),
    latency: Math.exp(4 + 0.5 * rng()),
    routes: 1 + Math.floor(8 * rng()),
    errors: 0.002 + 0.02 * rng(),
  }))
  return () =>
    habits.map((h, i) => {
      const requests = Math.max(1, Math.round(h.rate * Math.exp(0.2 * gaussian(rng))))
      return {
        clientId: `key-${i}`,
        requests,
        errors: Math.round(requests * h.errors * Math.exp(0.3 * gaussian(rng))),
        meanLatencyMs: h.latency * Math.exp(0.1 * gaussian(rng)),
        distinctRoutes: Math.max(1, h.routes + Math.round(gaussian(rng))),
      }
    })
}

/**
 * Thirty closed-loop clients (2–6 requests on their own routes, then 250 ms), counted in 1 s
 * windows by when answers finish: each client's count steps between its usual values as its loop
 * drifts against the window boundaries. The machine stalls every few seconds (50–600 ms, nothing
 * finishes meanwhile). From `scrapeAt` a new client walks 40 routes; from `switchAt` client 7
 * walks 20.
 */
function closedLoops(
  rng: () => number,
  windows: number,
  scrapeAt: number,
  switchAt: number,
): ClientWindow[][] {
  const end = windows * 1000
  const stalls: [number, number][] = []
  for (let t = 2000; t < end; t += 8000 * (0.5 + rng())) stalls.push([t, t + 50 + rng() * 550])
  const after = (t: number) => stalls.find(([a, b]) => t >= a && t < b)?.[1] ?? t
  const byWindow = Array.from(
    { length: windows },
    () => new Map<string, { n: number; lat: number; routes: Set<number> }>(),
  )
  for (let c = 0; c <= 30; c++) {
    let routes = Array.from({ length: 2 + (c % 5) }, (_, k) => (c + (k % 2)) % 40)
    let t = rng() * 50
    if (c === 30) {
      routes = Array.from({ length: 40 }, (_, r) => r)
      t = scrapeAt * 1000
    }
    while (t < end) {
      if (c === 7 && t >= switchAt * 1000) routes = Array.from({ length: 20 }, (_, r) => r)
      let last = t
      for (const r of routes) {
        const done = after(t + 2 + 4 * rng())
        last = Math.max(last, done)
        const w = byWindow[Math.floor(done / 1000)]
        if (w === undefined) continue
        const e = w.get(`c${c}`) ?? { n: 0, lat: 0, routes: new Set<number>() }
        e.n++
        e.lat += done - t
        e.routes.add(r)
        w.set(`c${c}`, e)
      }
      t = after(last + 250 + 4 * rng())
    }
  }
  return byWindow.map((w) =>
    [...w].map(([clientId, e]) => ({
      clientId,
      requests: e.n,
      errors: 0,
      meanLatencyMs: e.lat / e.n,
      distinctRoutes: e.routes.size,
    })),
  )
}

describe('ClientOutliers', () => {
  it('flags a scraper and a hammering client once each, names why, stays quiet on the heaviest normal client, and clears when they stop', () => {
    const rng = testRng(11)
    const next = population(rng)
    const d = new ClientOutliers({ seed: 3 })
    const raised: string[] = []
    const cleared: string[] = []
    const reasons = new Map<string, string[]>()
    for (let w = 0; w < 160; w++) {
      const clients = next(w)
      if (w >= 100 && w < 110)
        clients.push({
          clientId: 'scraper',
          requests: 300,
          errors: 30,
          meanLatencyMs: 60,
          distinctRoutes: 180,
        })
      if (w >= 120 && w < 125)
        clients.push({
          clientId: 'hammer',
          requests: 400_000,
          errors: 250_000,
          meanLatencyMs: 5,
          distinctRoutes: 1,
        })
      for (const s of d.step(clients).signals) {
        if (s.state === 'raised') {
          raised.push(`${w}:${s.clientId}`)
          reasons.set(
            s.clientId,
            s.reasons.map((r) => r.feature),
          )
        } else cleared.push(`${w}:${s.clientId}`)
      }
    }
    expect(raised.filter((r) => Number(r.split(':')[0]) >= 40)).toEqual(['100:scraper', '120:hammer'])
    expect(reasons.get('scraper')).toEqual(expect.arrayContaining(['distinctRoutes']))
    expect(reasons.get('hammer')).toEqual(expect.arrayContaining(['requests', 'errorRatio']))
    // absent from window 110 (scraper) and 125 (hammer): ten quiet windows clear each
    expect(cleared).toEqual(['119:scraper', '134:hammer'])
    expect(d.active()).toEqual([])
  })

  it('flags an established client that starts scraping, not one that doubles its traffic', () => {
    const rng = testRng(14)
    const next = population(rng)
    const d = new ClientOutliers({ seed: 5 })
    const raised: string[] = []
    for (let w = 0; w < 140; w++) {
      const clients = next(w).map((c) => {
        if (w >= 100 && c.clientId === 'key-5') return { ...c, distinctRoutes: 150 }
        if (w >= 100 && c.clientId === 'key-7') return { ...c, requests: c.requests * 2 }
        return c
      })
      for (const s of d.step(clients).signals)
        if (s.state === 'raised' && w >= 40) raised.push(`${w}:${s.clientId}`)
    }
    expect(raised).toEqual(['100:key-5'])
  })

  it('judges clients against their peers of the same window: a slow upstream, an error burst or the daily peak moving every client raises nothing', () => {
    const rng = testRng(15)
    const next = population(rng)
    const d = new ClientOutliers({ seed: 6 })
    const raised: string[] = []
    for (let w = 0; w < 160; w++) {
      const clients = next(w).map((c) => {
        if (w >= 100 && w < 105) return { ...c, meanLatencyMs: c.meanLatencyMs * 20 } // the upstream stalls
        if (w >= 120 && w < 125) return { ...c, errors: Math.round(c.requests * 0.6) } // it fails
        if (w >= 140 && w < 150) return { ...c, requests: c.requests * 3 } // the daily peak
        return c
      })
      for (const s of d.step(clients).signals)
        if (s.state === 'raised' && w >= 40) raised.push(`${w}:${s.clientId}`)
    }
    expect(raised).toEqual([])
  })

  it('stays quiet on closed-loop clients whose counts step with the window boundaries and machine stalls, and flags a scraper and a client that starts walking routes', () => {
    const windows = closedLoops(testRng(21), 300, 200, 250)
    const d = new ClientOutliers({ seed: 8 })
    const raised: string[] = []
    windows.forEach((clients, w) => {
      for (const s of d.step(clients).signals) if (s.state === 'raised') raised.push(`${w}:${s.clientId}`)
    })
    expect(raised).toEqual(['200:c30', '250:c7'])
  })

  it('does not judge a window of fewer than 8 clients', () => {
    const d = new ClientOutliers()
    const few = Array.from({ length: 7 }, (_, i) => ({
      clientId: `k${i}`,
      requests: i === 0 ? 1_000_000 : 10,
      errors: 0,
      meanLatencyMs: 50,
      distinctRoutes: i === 0 ? 500 : 1,
    }))
    for (let w = 0; w < 300; w++) {
      const step = d.step(few)
      expect(step.signals).toEqual([])
      expect(step.scores.every((x) => x.score === 0)).toBe(true)
    }
  })

  it('raises few alarms on a population without abuse', () => {
    const rng = testRng(12)
    const next = population(rng)
    const d = new ClientOutliers({ seed: 4 })
    let raised = 0
    for (let w = 0; w < 200; w++)
      for (const s of d.step(next(w)).signals) if (s.state === 'raised' && w >= 40) raised++
    // 160 windows × 60 clients = 9,600 client-windows
    expect(raised).toBeLessThanOrEqual(2)
  })

  it('continues identically after snapshot and restore', () => {
    const rng = testRng(13)
    const next = population(rng)
    const windows = Array.from({ length: 120 }, (_, w) => {
      const c = next(w)
      if (w === 100)
        c.push({ clientId: 'scraper', requests: 300, errors: 0, meanLatencyMs: 60, distinctRoutes: 200 })
      return c
    })
    const a = new ClientOutliers()
    windows.slice(0, 80).forEach((c) => a.step(c))
    const b = ClientOutliers.restore(structuredClone(a.snapshot()))
    const ra = windows.slice(80).map((c) => a.step(c))
    const rb = windows.slice(80).map((c) => b.step(c))
    expect(rb).toEqual(ra)
    expect(ra[20].signals.map((s) => s.clientId)).toEqual(['scraper'])
  })

  it('restores a version 1 snapshot as a fresh detector: no client flagged for its usual traffic, and a scraper still is', () => {
    const rng = testRng(16)
    const next = population(rng)
    const a = new ClientOutliers()
    for (let w = 0; w < 80; w++) a.step(next(w))
    const snap = structuredClone(a.snapshot())
    expect(snap.version).toBe(2)
    // version 1 kept habits relative to each window's median client: far off the raw scale
    const v1 = {
      ...snap,
      version: 1 as const,
      state: {
        ...snap.state,
        clients: snap.state.clients.map(([id, st]) => [
          id,
          { ...st, mean: st.mean.map((m) => m - 3) },
        ]) as typeof snap.state.clients,
      },
    }
    const b = ClientOutliers.restore(v1)
    expect(b.snapshot()).toEqual(new ClientOutliers(snap.options).snapshot())
    const raised: string[] = []
    for (let w = 80; w < 120; w++) {
      const c = next(w)
      if (w === 100)
        c.push({ clientId: 'scraper', requests: 300, errors: 0, meanLatencyMs: 60, distinctRoutes: 200 })
      for (const s of b.step(c).signals) if (s.state === 'raised') raised.push(`${w}:${s.clientId}`)
    }
    expect(raised).toEqual(['100:scraper'])
  })

  it('rejects malformed client rows with the field named, and foreign snapshots', () => {
    const d = new ClientOutliers()
    expect(() =>
      d.step([{ clientId: 'a', requests: Number.NaN, errors: 0, meanLatencyMs: 1, distinctRoutes: 1 }]),
    ).toThrow(/clients\[0\]\.requests must be a finite number/)
    expect(() =>
      d.step([{ clientId: '', requests: 1, errors: 0, meanLatencyMs: 1, distinctRoutes: 1 }]),
    ).toThrow(/clientId must be a non-empty string/)
    expect(() => ClientOutliers.restore({ kind: 'ensemble' } as never)).toThrow(
      /not a client-outliers snapshot/,
    )
    expect(() => new ClientOutliers({ maxClients: 0 })).toThrow(/maxClients/)
  })
})
