import { describe, expect, it } from 'vitest'
import { listenAddress, localUrl } from './listen-address.js'

describe('listenAddress', () => {
  it('says a wildcard address listens on all interfaces, not on loopback', () => {
    expect(listenAddress('0.0.0.0', 8080)).toBe('http://0.0.0.0:8080 (all interfaces)')
    expect(listenAddress('::', 8080)).toBe('http://[::]:8080 (all interfaces)')
  })

  it('gives a specific address as bound, IPv6 in brackets', () => {
    expect(listenAddress('127.0.0.1', 8081)).toBe('http://127.0.0.1:8081')
    expect(listenAddress('10.0.0.5', 8080)).toBe('http://10.0.0.5:8080')
    expect(listenAddress('::1', 8080)).toBe('http://[::1]:8080')
  })
})

describe('localUrl', () => {
  it('calls a wildcard listener on loopback and a specific one on its address', () => {
    expect(localUrl('0.0.0.0', 8080)).toBe('http://127.0.0.1:8080')
    expect(localUrl('::', 8080)).toBe('http://127.0.0.1:8080')
    expect(localUrl('10.0.0.5', 8080)).toBe('http://10.0.0.5:8080')
    expect(localUrl('::1', 8080)).toBe('http://[::1]:8080')
  })
})
