/** @module Tests of the admin token's checks at start: placeholders and short tokens, by where the admin API listens. */
import { describe, expect, it } from 'vitest'
import { adminTokenFor, isLoopbackHost, MIN_ADMIN_TOKEN_CHARS, weakTokenReason } from './auth.js'

const STRONG = 'f3a9c1d27e8b4a6f9c0d1e2f3a4b5c6d'

function start(configured: string | undefined, host: string, env: NodeJS.ProcessEnv = {}) {
  const warnings: string[] = []
  try {
    const token = adminTokenFor({
      configured,
      host,
      hostField: 'admin.host',
      env,
      onWarn: (m) => warnings.push(m),
    })
    return { token, warnings, error: null }
  } catch (err) {
    return { token: null, warnings, error: err as Error & { code?: string } }
  }
}

describe('admin token', () => {
  it('takes the placeholders of examples and tutorials, in any case or spelling, for no secret', () => {
    for (const t of [
      'change-me',
      'changeme',
      'CHANGE_ME',
      'change-me-before-applying',
      'replace-me',
      'secret',
      'xxxxxxxxxxxxxxxxxxxx',
    ])
      expect(weakTokenReason(t)).toBe(`"${t}" is a placeholder`)
  })

  it(`takes a token shorter than ${MIN_ADMIN_TOKEN_CHARS} characters for a guessable one, without echoing it`, () => {
    expect(weakTokenReason('s3cr3t-x9')).toBe(`it has 9 characters, fewer than ${MIN_ADMIN_TOKEN_CHARS}`)
    expect(weakTokenReason('  padded-short  ')).toBe(
      `it has 12 characters, fewer than ${MIN_ADMIN_TOKEN_CHARS}`,
    )
    expect(weakTokenReason(STRONG)).toBeNull()
    expect(weakTokenReason('a'.repeat(15) + 'b')).toBeNull()
  })

  it('knows which hosts only this machine reaches', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(h), h).toBe(true)
    for (const h of [
      '0.0.0.0',
      '::',
      '',
      '10.0.0.5',
      '192.168.1.2',
      'admin.internal',
      '127.0.0.1.nip.io',
      '::ffff:10.0.0.1',
    ])
      expect(isLoopbackHost(h), h).toBe(false)
  })

  it('refuses to start with a placeholder token on an address other machines reach, in one line naming the field and the fix', () => {
    const r = start('change-me', '0.0.0.0')
    expect(r.error?.code).toBe('VGL_ERR_API_WEAK_TOKEN')
    expect(r.error?.message).toBe(
      'admin.token: "change-me" is a placeholder, and the admin API listens on 0.0.0.0 (admin.host), where whoever reaches it could change limits, scale and restart services; export VIGIL_ADMIN_TOKEN="$(openssl rand -hex 32)" and write admin.token: ${VIGIL_ADMIN_TOKEN}, or listen on 127.0.0.1 only',
    )
    expect(r.error?.message).not.toContain('\n')
  })

  it('names VIGIL_ADMIN_TOKEN when the weak token came from there, and never echoes a short real one', () => {
    const r = start(undefined, '10.0.0.5', { VIGIL_ADMIN_TOKEN: 'hunter2' })
    expect(r.error?.message).toBe(
      'VIGIL_ADMIN_TOKEN: it has 7 characters, fewer than 16, and the admin API listens on 10.0.0.5 (admin.host), where whoever reaches it could change limits, scale and restart services; export VIGIL_ADMIN_TOKEN="$(openssl rand -hex 32)", or listen on 127.0.0.1 only',
    )
    expect(start('', '::', { VIGIL_ADMIN_TOKEN: 'changeme' }).error?.code).toBe('VGL_ERR_API_WEAK_TOKEN')
  })

  it('starts with a warning for a weak token on loopback', () => {
    const r = start('change-me', '127.0.0.1')
    expect(r.error).toBeNull()
    expect(r.token).toBe('change-me')
    expect(r.warnings).toEqual([
      'admin.token: "change-me" is a placeholder: anyone on this machine can change limits, scale and restart services through the admin API (refused on an address other machines reach); export VIGIL_ADMIN_TOKEN="$(openssl rand -hex 32)" and write admin.token: ${VIGIL_ADMIN_TOKEN}',
    ])
  })

  it('starts quietly with a strong token anywhere, and warns without one (mutating calls refused)', () => {
    expect(start(STRONG, '0.0.0.0')).toEqual({ token: STRONG, warnings: [], error: null })
    expect(start(undefined, '0.0.0.0', { VIGIL_ADMIN_TOKEN: STRONG })).toEqual({
      token: STRONG,
      warnings: [],
      error: null,
    })
    expect(start(undefined, '0.0.0.0')).toEqual({
      token: '',
      warnings: ['no admin token (admin.token or VIGIL_ADMIN_TOKEN): mutating admin calls are refused'],
      error: null,
    })
  })
})
