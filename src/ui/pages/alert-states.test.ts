import { describe, expect, it } from 'vitest'
import { alertStates } from './alert-states.js'

describe('alertStates', () => {
  it('counts firing and pending alerts, leaving a zero out', () => {
    expect(alertStates([{ state: 'firing' }, { state: 'firing' }])).toBe('2 firing')
    expect(alertStates([{ state: 'pending' }])).toBe('1 pending')
    expect(alertStates([{ state: 'pending' }, { state: 'firing' }])).toBe('1 firing, 1 pending')
  })
})
