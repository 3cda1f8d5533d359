import { describe, expect, it } from 'vitest'
import { fit } from './service-map.js'

describe('fit', () => {
  it('keeps a name that fits and cuts a longer one to the limit with an ellipsis', () => {
    expect(fit('payments', 22)).toBe('payments')
    expect(fit('x'.repeat(22), 22)).toBe('x'.repeat(22))
    const cut = fit('customer-identity-and-access-management-service-eu-west', 22)
    expect(cut).toBe('customer-identity-and…')
    expect([...cut]).toHaveLength(22)
  })

  it('counts characters, not UTF-16 units, and never returns only the ellipsis', () => {
    expect(fit('ünïcödé-sërvïcé-ñämé', 8)).toBe('ünïcödé…')
    expect(fit('😀😀😀😀', 3)).toBe('😀😀…')
    expect(fit('abcdef', 1)).toBe('a…')
    expect(fit('', 5)).toBe('')
  })
})
