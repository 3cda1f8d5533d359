import { describe, expect, it } from 'vitest'
import { href, loginLinkToken, parseHash } from './router.js'

describe('parseHash', () => {
  it('reads the page, its arguments (decoded) and the query', () => {
    const r = parseHash(`${href('series', 'shop|*|demo', '15m')}?x=1`)
    expect([r.page, r.args, r.query.get('x')]).toEqual(['series', ['shop|*|demo', '15m'], '1'])
    expect(parseHash('').page).toBe('overview')
    expect(parseHash('#/').page).toBe('overview')
    expect(parseHash('#/nosuch').page).toBe('nosuch')
  })

  it('reads a login link as the overview, not as a page named "token=…"', () => {
    expect(parseHash('#token=abc')).toMatchObject({ page: 'overview', args: [] })
  })
})

describe('loginLinkToken', () => {
  it('takes the token of a login link, decoded, and nothing else', () => {
    expect(loginLinkToken('#token=abc')).toBe('abc')
    expect(loginLinkToken('#token=a%2Bb%3D')).toBe('a+b=')
    expect(loginLinkToken('#token=abc&x=1')).toBe('abc')
    // a malformed escape is taken as typed rather than throwing
    expect(loginLinkToken('#token=%E0%A4%A')).toBe('%E0%A4%A')
    for (const h of ['', '#/', '#token=', '#/token=abc', '#/overview']) expect(loginLinkToken(h)).toBeNull()
  })
})
