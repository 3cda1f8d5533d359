import { describe, expect, it } from 'vitest'
import { CircuitBreaker, type BreakerState } from './breaker.js'

const opts = { enabled: true, consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 2500 }

function failN(b: CircuitBreaker, n: number, now: number): void {
  for (let i = 0; i < n; i++) b.onFailure(now)
}

describe('CircuitBreaker', () => {
  it('stays closed below the consecutive failure threshold, and a success resets the count', () => {
    const b = new CircuitBreaker(opts)
    failN(b, 2, 0)
    b.onSuccess(0)
    failN(b, 2, 0)
    expect(b.state).toBe('closed')
    expect(b.allow(0)).toBe(true)
  })

  it('opens after N consecutive failures and refuses traffic for the ejection time', () => {
    const b = new CircuitBreaker(opts)
    failN(b, 3, 100)
    expect(b.state).toBe('open')
    expect(b.allow(100)).toBe(false)
    expect(b.allow(1099)).toBe(false)
    expect(b.available(1099)).toBe(false)
  })

  it('lets exactly one probe through when the ejection time is over (half-open)', () => {
    const b = new CircuitBreaker(opts)
    failN(b, 3, 0)
    expect(b.allow(1000)).toBe(true)
    expect(b.state).toBe('half-open')
    expect(b.allow(1001)).toBe(false)
    expect(b.available(1001)).toBe(false)
  })

  it('closes when the probe succeeds', () => {
    const b = new CircuitBreaker(opts)
    failN(b, 3, 0)
    b.allow(1000)
    b.onSuccess(1010)
    expect(b.state).toBe('closed')
    expect(b.allow(1011)).toBe(true)
    expect(b.allow(1011)).toBe(true)
  })

  it('re-opens for longer when the probe fails, capped at the maximum', () => {
    const b = new CircuitBreaker(opts)
    failN(b, 3, 0) // ejection 1: 1000 ms
    b.allow(1000)
    b.onFailure(1000) // ejection 2: 2000 ms
    expect(b.state).toBe('open')
    expect(b.openUntilMs).toBe(3000)
    b.allow(3000)
    b.onFailure(3000) // ejection 3: 3000 ms capped to 2500
    expect(b.openUntilMs).toBe(5500)
  })

  it('starts over at the base ejection time after staying closed for the maximum ejection time', () => {
    const b = new CircuitBreaker(opts)
    failN(b, 3, 0)
    b.allow(1000)
    b.onSuccess(1000)
    failN(b, 3, 1000 + 2500)
    expect(b.openUntilMs).toBe(3500 + 1000)
  })

  it('frees the probe slot when the probe is abandoned', () => {
    const b = new CircuitBreaker(opts)
    failN(b, 3, 0)
    expect(b.allow(1000)).toBe(true)
    b.onAbandon()
    expect(b.allow(1000)).toBe(true)
  })

  it('closes at once when an active health check passes', () => {
    const b = new CircuitBreaker(opts)
    failN(b, 3, 0)
    b.forceClose(10)
    expect(b.state).toBe('closed')
    expect(b.allow(10)).toBe(true)
  })

  it('never opens when disabled', () => {
    const b = new CircuitBreaker({ ...opts, enabled: false })
    failN(b, 100, 0)
    expect(b.state).toBe('closed')
  })

  it('reports every state change', () => {
    const b = new CircuitBreaker(opts)
    const seen: BreakerState[] = []
    b.onChange = (s) => seen.push(s)
    failN(b, 3, 0)
    b.allow(1000)
    b.onSuccess(1000)
    expect(seen).toEqual(['open', 'half-open', 'closed'])
  })
})
