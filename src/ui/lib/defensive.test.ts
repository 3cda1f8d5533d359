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
    const off = { global: false, services: [], reason: '', actor: '', setAt: '', expiresAt: '' }
    expect(defensiveMode(base)).toEqual(off)
    const other = { shop: { tiers: { STD: 0.5 }, classes: {}, defensive: false } }
    expect(defensiveMode({ ...base, services: other })).toEqual(off)
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
      actor: 'control:anomaly-pressure',
      setAt: '2026-12-07T02:35:09Z',
      expiresAt: '',
    })
  })

  it("tells who switched it on for a service and until when, not who made the document's last change", () => {
    // what the demo showed: defensive mode on for shop, then a client limited by another policy
    const c = {
      ...base,
      reason: 'client initech-prm stands out among its peers: its limit ×0.1 on every service',
      actor: 'control:abusive-clients',
      updatedAt: '2026-12-07T13:31:39Z',
      clients: { 'initech-prm': 0.1 },
      services: { shop: { tiers: {}, classes: {}, defensive: true } },
      entries: {
        'services.shop.defensive': {
          ...entry('anomaly on shop browse (demo): 16 errors'),
          setAt: '2026-12-07T13:31:23Z',
          expiresAt: '2026-12-07T13:36:23Z',
        },
        'clients.initech-prm': {
          actor: 'control:abusive-clients',
          reason: 'client initech-prm stands out among its peers',
          setAt: '2026-12-07T13:31:39Z',
          expiresAt: '2026-12-07T13:36:39Z',
        },
      },
    }
    expect(defensiveMode(c)).toEqual({
      global: false,
      services: ['shop'],
      reason: 'anomaly on shop browse (demo): 16 errors',
      actor: 'control:anomaly-pressure',
      setAt: '2026-12-07T13:31:23Z',
      expiresAt: '2026-12-07T13:36:23Z',
    })
  })

  it('is on for everyone when the global switch is, with its reason', () => {
    const c = {
      ...base,
      defensive: true,
      reason: 'incident drill',
      services: { shop: { tiers: {}, classes: {}, defensive: true } },
    }
    expect(defensiveMode(c)).toEqual({
      global: true,
      services: [],
      reason: 'incident drill',
      actor: '',
      setAt: '',
      expiresAt: '',
    })
    // with its own entry, that entry's reason and author, whatever changed since
    const later = {
      ...c,
      reason: 'a client limited since',
      actor: 'control:abusive-clients',
      entries: { defensive: { actor: 'alice', reason: 'incident drill', setAt: '2026-12-07T10:00:00Z' } },
    }
    expect(defensiveMode(later)).toMatchObject({
      reason: 'incident drill',
      actor: 'alice',
      setAt: '2026-12-07T10:00:00Z',
    })
  })
})
