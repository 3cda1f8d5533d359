import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import * as errors from './errors.js'

describe('error registry', () => {
  const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')

  it('has a row in docs/errors.md for every code', () => {
    const missing = errors.errorCodes().filter((d) => !doc.includes(`| \`${d.code}\` |`))
    expect(missing.map((d) => d.code)).toEqual([])
  })

  it('documents no code that does not exist', () => {
    const known = new Set(errors.errorCodes().map((d) => d.code))
    const documented = [...doc.matchAll(/^\| `(VGL_ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1])
    expect(documented.filter((c) => !known.has(c))).toEqual([])
  })

  it('exports each factory under its own code', () => {
    for (const [name, value] of Object.entries(errors)) {
      if (name.startsWith('VGL_ERR_')) expect((value as errors.ErrorFactory).code).toBe(name)
    }
  })

  it('builds errors with code, status and formatted message', () => {
    const err = errors.VGL_ERR_CONFIG_READ('x.yaml', 'ENOENT')
    expect(err.code).toBe('VGL_ERR_CONFIG_READ')
    expect(err.message).toBe('cannot read config file x.yaml: ENOENT')
    expect(errors.isVigilError(err)).toBe(true)
  })
})
