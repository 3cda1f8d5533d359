import { afterEach, describe, expect, it } from 'vitest'
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

let gw: TestGateway | null = null
const ups: Upstream[] = []

afterEach(async () => {
  await gw?.close()
  gw = null
  await Promise.all(ups.splice(0).map((u) => u.close()))
})

/** requests each upstream (by name) has received */
const received = new Map<string, number>()

async function upstream(name: string, delayMs = 0): Promise<Upstream> {
  received.set(name, 0)
  const u = await startUpstream((_req, res) => {
    received.set(name, (received.get(name) ?? 0) + 1)
    setTimeout(() => res.end(name), delayMs)
  })
  ups.push(u)
  return u
}

async function bodies(url: string, n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(await (await fetch(url)).text())
  return out
}

describe('Gateway.setTargets', () => {
  it('adds and removes targets at run time without a reload', async () => {
    const a = await upstream('a')
    const b = await upstream('b')
    gw = await startGateway({
      services: { orders: { targets: [a.url] } },
      routes: [{ path: '/', service: 'orders' }],
    })
    expect(new Set(await bodies(`${gw.url}/x`, 4))).toEqual(new Set(['a']))
    await gw.gw.setTargets('orders', [a.url, b.url])
    expect(new Set(await bodies(`${gw.url}/x`, 6))).toEqual(new Set(['a', 'b']))
    expect(gw.gw.services()[0].targets.map((t) => t.url)).toEqual([a.url, b.url])
    await gw.gw.setTargets('orders', [b.url])
    expect(new Set(await bodies(`${gw.url}/x`, 4))).toEqual(new Set(['b']))
  })

  it('resolves only after requests in flight on a removed target have finished', async () => {
    const slow = await upstream('slow', 1_000)
    const other = await upstream('other')
    gw = await startGateway({
      services: { orders: { targets: [slow.url] } },
      routes: [{ path: '/', service: 'orders' }],
    })
    const inFlight = fetch(`${gw.url}/x`).then((r) => r.text())
    // in flight once the upstream has it (a fixed wait was too short on a loaded machine)
    for (const until = Date.now() + 5_000; received.get('slow') === 0 && Date.now() < until;)
      await new Promise((r) => setTimeout(r, 5))
    expect(received.get('slow')).toBe(1)
    let drained = false
    const change = gw.gw.setTargets('orders', [other.url]).then(() => (drained = true))
    await new Promise((r) => setTimeout(r, 100))
    expect(drained).toBe(false)
    // new requests already go to the new target
    expect(await (await fetch(`${gw.url}/y`)).text()).toBe('other')
    expect(await inFlight).toBe('slow')
    await change
    expect(drained).toBe(true)
  })

  it('keeps run-time targets across a reload and gives back the configured ones on null', async () => {
    const a = await upstream('a')
    const b = await upstream('b')
    const partial = { services: { orders: { targets: [a.url] } }, routes: [{ path: '/', service: 'orders' }] }
    gw = await startGateway(partial)
    await gw.gw.setTargets('orders', [b.url])
    gw.gw.swap(testConfig(partial))
    expect(new Set(await bodies(`${gw.url}/x`, 3))).toEqual(new Set(['b']))
    await gw.gw.setTargets('orders', null)
    expect(new Set(await bodies(`${gw.url}/x`, 3))).toEqual(new Set(['a']))
  })

  it('answers 503 with no targets and rejects unknown services and bad URLs', async () => {
    const a = await upstream('a')
    gw = await startGateway({
      services: { orders: { targets: [a.url] } },
      routes: [{ path: '/', service: 'orders' }],
    })
    await gw.gw.setTargets('orders', [])
    expect((await fetch(`${gw.url}/x`)).status).toBe(503)
    expect(() => gw!.gw.setTargets('ordrs', [a.url])).toThrow(/unknown service "ordrs" \(known: orders\)/)
    expect(() => gw!.gw.setTargets('orders', ['ftp://x'])).toThrow(
      /target "ftp:\/\/x" of service "orders" is not an http\(s\) URL/,
    )
  })
})
