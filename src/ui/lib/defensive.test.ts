import { describe, expect, it } from 'vitest'
import { defensiveMode } from './defensive.js'

const base = { defensive: false, services: {}, entries: {}, reason: '' }
const entry = (reason: string) => ({
  actor: 'control:anomaly-pressure',
  reason,
  setAt: '2026-12-07T02:35:09Z',
})

describe('defensiveMode', () => {
  it('is off when neither the global switch nor any service has it', () => {
    expect(defensiveMode(base)).toEqual({ global: false, services: [], reason: '' })
    const other = { shop: { tiers: { STD: 0.5 }, classes: {}, defensive: false } }
    expect(defensiveMode({ ...base, services: other })).toEqual({ global: false, services: [], reason: '' })
  })

  it('names the services it is on for, with their own reasons, when the global switch is off', () => {
    const c = {
      ...base,
      reason: 'the last change, about something else',
      services: {
        shop: { tiers: {}, classes: {}, defensive: true },
        payments: { tiers: {}, classes: {}, defensive: true },
        users: { tiers: {}, classes: {}, defensive: false },
      },
      entries: {
        'services.shop.defensive': entry('5xx errors anomaly on shop'),
        'services.payments.defensive': entry('traffic anomaly on payments'),
      },
    }
    expect(defensiveMode(c)).toEqual({
      global: false,
      services: ['payments', 'shop'],
      reason: 'traffic anomaly on payments; 5xx errors anomaly on shop',
    })
  })

  it('is on for everyone when the global switch is, with its reason', () => {
    const c = {
      ...base,
      defensive: true,
      reason: 'incident drill',
      services: { shop: { tiers: {}, classes: {}, defensive: true } },
    }
    expect(defensiveMode(c)).toEqual({ global: true, services: [], reason: 'incident drill' })
  })
})
