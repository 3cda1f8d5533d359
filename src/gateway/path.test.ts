import { describe, expect, it } from 'vitest'
import { normalizePath, pathNeedsNormalizing } from './path.js'

const norm = (p: string, reject = false) => normalizePath(p, reject)

describe('normalizePath', () => {
  it('leaves ordinary paths alone (same string, no work)', () => {
    for (const p of ['/', '/api', '/api/v1/users/7', '/a.b/c..d/.well-known', '/x/%41%2c'])
      expect(norm(p)).toBe(p)
    expect(pathNeedsNormalizing('/api/v1/users/7')).toBe(false)
    expect(pathNeedsNormalizing('/a.b/c..d')).toBe(false)
    expect(pathNeedsNormalizing('/a/.well-known')).toBe(true)
    expect(pathNeedsNormalizing('/a/%2e')).toBe(true)
    expect(pathNeedsNormalizing('/a\\b')).toBe(true)
  })

  it('refuses a % that starts no escape, or escapes that are not UTF-8, naming the path', () => {
    for (const p of ['/api/browse/%ZZ', '/u/100%', '/a/b%2', '/a/%e2%82'])
      expect(norm(p)).toEqual({
        refused: `a percent-escape that does not decode in the path ("${p}"): write a literal % as %25, and escape UTF-8 bytes`,
      })
    expect(norm('/u/100%25')).toBe('/u/100%25')
    expect(norm('/a/%e2%82%ac')).toBe('/a/%e2%82%ac')
  })

  it('removes dot segments as RFC 3986 §5.2.4 does (its examples included)', () => {
    expect(norm('/a/b/c/./../../g')).toBe('/a/g')
    expect(norm('/mid/content=5/../6')).toBe('/mid/6')
    expect(norm('/public/../admin/x')).toBe('/admin/x')
    expect(norm('/public/./x')).toBe('/public/x')
    expect(norm('/a/..')).toBe('/')
    expect(norm('/a/.')).toBe('/a/')
    expect(norm('/a/b/..')).toBe('/a/')
    expect(norm('/..')).toBe('/')
    expect(norm('/../../admin')).toBe('/admin')
    expect(norm('/a//../b')).toBe('/a/b')
  })

  it('reads %2e in any case as a dot, but decodes nothing else', () => {
    expect(norm('/public/%2e%2e/admin/x')).toBe('/admin/x')
    expect(norm('/public/%2E%2e/admin/x')).toBe('/admin/x')
    expect(norm('/public/.%2E/admin/x')).toBe('/admin/x')
    expect(norm('/public/%2e/x')).toBe('/public/x')
    expect(norm('/public/%2e%2e/%61dmin')).toBe('/%61dmin')
    expect(norm('/file%2etxt/x')).toBe('/file%2etxt/x')
  })

  it('refuses raw backslashes', () => {
    expect(norm('/public\\..\\admin')).toMatchObject({ refused: expect.stringContaining('backslash') })
    expect(norm('/a\\b')).toMatchObject({ refused: expect.stringContaining('%5C') })
  })

  it('keeps escaped slashes as data unless they hide a dot segment or are rejected by config', () => {
    expect(norm('/projects/group%2Fname/issues')).toBe('/projects/group%2Fname/issues')
    expect(norm('/public/..%2Fadmin')).toMatchObject({ refused: expect.stringContaining('dot segment') })
    expect(norm('/public/%2e%2e%2fadmin')).toMatchObject({ refused: expect.stringContaining('dot segment') })
    expect(norm('/public/x%5C..')).toMatchObject({ refused: expect.stringContaining('dot segment') })
    expect(norm('/projects/group%2Fname', true)).toMatchObject({
      refused: expect.stringContaining('gateway.escapedSlashes'),
    })
  })

  it('refuses dot segments with path parameters', () => {
    expect(norm('/public/..;/admin')).toMatchObject({ refused: expect.stringContaining('..;') })
    expect(norm('/public/%2e%2e;x=1/admin')).toMatchObject({ refused: expect.stringContaining('parameters') })
    expect(norm('/public/.;a/x')).toMatchObject({ refused: expect.stringContaining('parameters') })
    expect(norm('/public/..a;b/x')).toBe('/public/..a;b/x')
  })

  it('returns other request-target forms unchanged', () => {
    expect(norm('*')).toBe('*')
    expect(norm('http://host/a/../b')).toBe('http://host/a/../b')
  })
})
