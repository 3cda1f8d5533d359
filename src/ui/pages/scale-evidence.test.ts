import { describe, expect, it } from 'vitest'
import { plainEvidence } from './scale-evidence.js'

describe('plainEvidence', () => {
  it("tells a replica started below min by its own fields, not by the policy's name", () => {
    // the demo's first scaling event: users 0 → 1 at start
    expect(plainEvidence({ min: 1, running: 0 })).toBe('min 1 · running 0')
  })

  it('lists words and lists, and leaves nested records out', () => {
    expect(
      plainEvidence({
        actuator: 'process',
        adopted: ['users-1', 'users-2'],
        stopped: [],
        startup: { seenMs: 5 },
      }),
    ).toBe('actuator process · adopted users-1, users-2 · stopped none')
  })

  it('is null when there is nothing to tell', () => {
    expect(plainEvidence(null)).toBeNull()
    expect(plainEvidence({})).toBeNull()
    expect(plainEvidence({ nested: { a: 1 } })).toBeNull()
    expect(plainEvidence([1, 2])).toBeNull()
  })
})
