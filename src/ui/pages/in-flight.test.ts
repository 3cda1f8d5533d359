import { describe, expect, it } from 'vitest'
import { inFlightText } from './in-flight.js'

const replica = (ready: boolean) => ({ id: 'r', url: null, ready, startedAtMs: 0 })
const scaling = (sinceMs: number, skippedTicks: number, to: number) => ({
  sinceMs,
  skippedTicks,
  doing: 'scaling' as const,
  to,
})

describe('inFlightText', () => {
  it('says nothing when no decision is in flight', () => {
    expect(inFlightText({ inFlight: null, replicas: [], lastError: null }, 1000)).toBeNull()
  })

  it('says for how long, what the actuator is doing and how many windows were skipped', () => {
    const base = { inFlight: scaling(10_000, 2, 2), lastError: null }
    expect(inFlightText({ ...base, replicas: [replica(true), replica(false)] }, 22_000)).toBe(
      'Scaling to 2 for 12s: booting 1 replica; 2 windows skipped meanwhile (other services decide as usual).',
    )
    expect(
      inFlightText({ ...base, replicas: [replica(true)], lastError: 'connect ECONNREFUSED' }, 85_000),
    ).toBe(
      'Scaling to 2 for 1m 15s: retrying the actuator after an error; 2 windows skipped meanwhile (other services decide as usual).',
    )
    expect(inFlightText({ inFlight: scaling(5_000, 0, 1), replicas: [], lastError: null }, 4_000)).toBe(
      'Scaling to 1 for 0s: waiting for its actuator; no window skipped yet.',
    )
  })

  it('tells a replay, and a wait for one, from an actuator call', () => {
    const at = (doing: 'replaying' | 'waiting to replay' | 'deciding') => ({
      inFlight: { sinceMs: 0, skippedTicks: 1, doing, to: null },
      replicas: [replica(false)],
      lastError: null,
    })
    expect(inFlightText(at('replaying'), 3_000)).toBe(
      'Replaying for 3s: feeding its stored windows to the policy (its first decision since this control plane leads); 1 window skipped meanwhile (other services decide as usual).',
    )
    expect(inFlightText(at('waiting to replay'), 3_000)).toMatch(
      /^Waiting for 3s: its first decision waits for another service's replay;/,
    )
    expect(inFlightText(at('deciding'), 3_000)).toMatch(/^Deciding for 3s: reading its newest window;/)
  })
})
