import { describe, expect, it } from 'vitest'
import { inFlightText } from './in-flight.js'

const replica = (ready: boolean) => ({ id: 'r', url: null, ready, startedAtMs: 0 })

describe('inFlightText', () => {
  it('says nothing when no decision is in flight', () => {
    expect(inFlightText({ inFlight: null, replicas: [], lastError: null }, 1000)).toBeNull()
  })

  it('says for how long, what the actuator is doing and how many windows were skipped', () => {
    const base = { inFlight: { sinceMs: 10_000, skippedTicks: 2 }, lastError: null }
    expect(inFlightText({ ...base, replicas: [replica(true), replica(false)] }, 22_000)).toBe(
      'Acting for 12s: booting 1 replica; 2 windows skipped meanwhile (other services decide as usual).',
    )
    expect(
      inFlightText({ ...base, replicas: [replica(true)], lastError: 'connect ECONNREFUSED' }, 85_000),
    ).toBe(
      'Acting for 1m 15s: retrying the actuator after an error; 2 windows skipped meanwhile (other services decide as usual).',
    )
    expect(
      inFlightText({ inFlight: { sinceMs: 5_000, skippedTicks: 0 }, replicas: [], lastError: null }, 4_000),
    ).toBe('Acting for 0s: waiting for its actuator; no window skipped yet.')
  })
})
