/**
 * @module Who a request is, for limiting: an API key (configurable header, or
 * `Authorization: Bearer`, RFC 6750 §2.1) or, without one, the client IP. `X-Forwarded-For` is
 * believed only when the socket peer is a configured trusted proxy, and then read right to left,
 * skipping further trusted hops, so a client cannot choose its own address by sending the header.
 */
import type { IncomingHttpHeaders } from 'node:http'
import { BlockList, isIPv4, isIPv6 } from 'node:net'

export interface IdentityOptions {
  header: string
  bearer: boolean
  trustedProxies: readonly string[]
}

/** Parses `10.0.0.0/8`, `::1/128` or a bare address into a BlockList; throws naming the bad entry. */
export function buildTrustList(cidrs: readonly string[]): BlockList {
  const list = new BlockList()
  cidrs.forEach((entry, i) => {
    const [addr, bits] = entry.split('/')
    const type =
      addr !== undefined && isIPv4(addr) ? 'ipv4' : addr !== undefined && isIPv6(addr) ? 'ipv6' : null
    const max = type === 'ipv4' ? 32 : 128
    const prefix = bits === undefined ? max : Number(bits)
    if (type === null || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      throw new Error(
        `limits.identity.trustedProxies[${i}]: expected an IP address or CIDR such as 10.0.0.0/8, got "${entry}"`,
      )
    }
    list.addSubnet(addr!, prefix, type)
  })
  return list
}

function normalise(ip: string): string {
  // Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; limit them as the IPv4 address.
  return ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip
}

function trusted(list: BlockList, ip: string): boolean {
  if (isIPv4(ip)) return list.check(ip, 'ipv4')
  if (isIPv6(ip)) return list.check(ip, 'ipv6')
  return false
}

export class ClientIdentity {
  readonly #header: string
  readonly #bearer: boolean
  readonly #trust: BlockList
  readonly #anyTrusted: boolean

  constructor(opts: IdentityOptions) {
    this.#header = opts.header.toLowerCase()
    this.#bearer = opts.bearer
    this.#trust = buildTrustList(opts.trustedProxies)
    this.#anyTrusted = opts.trustedProxies.length > 0
  }

  /** the API key the request presents, or null */
  apiKey(headers: IncomingHttpHeaders): string | null {
    const v = headers[this.#header]
    if (typeof v === 'string' && v !== '') return v
    if (this.#bearer) {
      const auth = headers.authorization
      if (typeof auth === 'string' && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') {
        const token = auth.slice(7).trim()
        if (token !== '') return token
      }
    }
    return null
  }

  /** the client address: the peer, or the first untrusted hop of X-Forwarded-For behind trusted proxies */
  clientIp(headers: IncomingHttpHeaders, remoteAddress: string): string {
    const peer = normalise(remoteAddress)
    if (!this.#anyTrusted || !trusted(this.#trust, peer)) return peer
    const xff = headers['x-forwarded-for']
    if (xff === undefined) return peer
    const hops = (Array.isArray(xff) ? xff.join(',') : xff).split(',')
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalise(hops[i]!.trim())
      if (hop === '') continue
      if (!isIPv4(hop) && !isIPv6(hop)) return peer // a malformed hop: trust nothing beyond the peer
      if (!trusted(this.#trust, hop)) return hop
    }
    return peer
  }
}
