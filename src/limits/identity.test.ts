import { describe, expect, it } from 'vitest'
import { ClientIdentity } from './identity.js'

const id = new ClientIdentity({ header: 'X-Api-Key', bearer: true, trustedProxies: ['10.0.0.0/8', '::1'] })

describe('ClientIdentity', () => {
  it('reads the key from the configured header, then from Authorization: Bearer', () => {
    expect(id.apiKey({ 'x-api-key': 'abc12345' })).toBe('abc12345')
    expect(id.apiKey({ authorization: 'Bearer tok-123456' })).toBe('tok-123456')
    expect(id.apiKey({ authorization: 'Basic dXNlcjpwdw==' })).toBeNull()
    expect(id.apiKey({})).toBeNull()
  })

  it('ignores Bearer when bearer is off', () => {
    const strict = new ClientIdentity({ header: 'x-api-key', bearer: false, trustedProxies: [] })
    expect(strict.apiKey({ authorization: 'Bearer tok-123456' })).toBeNull()
  })

  it('ignores X-Forwarded-For from an untrusted peer', () => {
    expect(id.clientIp({ 'x-forwarded-for': '1.2.3.4' }, '203.0.113.9')).toBe('203.0.113.9')
  })

  it('takes the first untrusted hop from the right behind trusted proxies', () => {
    expect(id.clientIp({ 'x-forwarded-for': '6.6.6.6, 1.2.3.4, 10.1.1.1' }, '10.0.0.2')).toBe('1.2.3.4')
    expect(id.clientIp({ 'x-forwarded-for': '1.2.3.4' }, '::ffff:10.0.0.2')).toBe('1.2.3.4')
    expect(id.clientIp({ 'x-forwarded-for': '1.2.3.4' }, '::1')).toBe('1.2.3.4')
  })

  it('falls back to the peer when the header is missing or malformed', () => {
    expect(id.clientIp({}, '10.0.0.2')).toBe('10.0.0.2')
    expect(id.clientIp({ 'x-forwarded-for': 'not-an-ip' }, '10.0.0.2')).toBe('10.0.0.2')
  })

  it('names the bad trusted proxy entry', () => {
    expect(() => new ClientIdentity({ header: 'k', bearer: false, trustedProxies: ['10.0.0.0/99'] })).toThrow(
      'limits.identity.trustedProxies[0]',
    )
  })
})
