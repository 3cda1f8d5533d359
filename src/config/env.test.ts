import { describe, expect, it } from 'vitest'
import { parseConfigText } from './load.js'

const BASE =
  "services:\n  api:\n    targets: ['${UPSTREAM:-http://127.0.0.1:9001}']\nroutes:\n  - { path: /, service: api }\n"

const load = (extra: string, env: NodeJS.ProcessEnv = {}) => parseConfigText(BASE + extra, 'vigil.yaml', env)

function messageOf(extra: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    load(extra, env)
  } catch (err) {
    return (err as Error).message
  }
  return 'no error'
}

describe('environment variables in the config', () => {
  it('leaves comments alone: an unset variable in a comment is no error', () => {
    expect(
      load('# admin: { token: ${NOT_SET} }\ngateway: { port: 9000 } # ${ALSO_NOT_SET}\n').gateway.port,
    ).toBe(9000)
  })

  it('names the file as given, the field, the line and the variable when one is unset', () => {
    expect(messageOf('gateway:\n  host: 127.0.0.1\n  port: ${PORT}\nadmin:\n  token: "x-${TOKEN}"\n')).toBe(
      [
        'vigil.yaml: gateway.port: environment variable PORT (line 8) is not set; export it or write ${PORT:-default}',
        'vigil.yaml: admin.token: environment variable TOKEN (line 10) is not set; export it or write ${TOKEN:-default}',
      ].join('\n'),
    )
    expect(messageOf('routes2: [a, "${A}", { b: "${B}" }]\n')).toContain(
      'vigil.yaml: routes2[1]: environment variable A (line 6)',
    )
    expect(messageOf('routes2: [a, "${A}", { b: "${B}" }]\n')).toContain(
      'vigil.yaml: routes2[2].b: environment variable B (line 6)',
    )
  })

  it('keeps a value with quotes, colons or newlines as one string', () => {
    const token = 'ab"c\'d: e\n  f: [g]'
    expect(load('admin:\n  token: ${TOKEN}\n', { TOKEN: token }).admin.token).toBe(token)
    expect(load("admin:\n  token: '${TOKEN}'\n", { TOKEN: token }).admin.token).toBe(token)
    expect(load('admin:\n  token: "pre-${TOKEN}"\n', { TOKEN: token }).admin.token).toBe(`pre-${token}`)
  })

  it('never lets a value add a list item', () => {
    const cfg = () => load('', { UPSTREAM: "http://127.0.0.1:1', 'http://127.0.0.1:2" })
    expect(cfg).toThrow(
      'vigil.yaml: services.api.targets[0]: expected an http:// or https:// URL, got "http://127.0.0.1:1\', \'http://127.0.0.1:2"',
    )
    const clean = load('', { UPSTREAM: 'http://127.0.0.1:7' })
    expect(clean.services.api!.targets).toEqual(['http://127.0.0.1:7'])
  })

  it('reads a plain value that is exactly one ${...} as YAML: numbers, booleans, null', () => {
    const cfg = load('gateway:\n  port: ${PORT:-8090}\n  accessLog:\n    enabled: ${LOG:-false}\n')
    expect(cfg.gateway.port).toBe(8090)
    expect(cfg.gateway.accessLog.enabled).toBe(false)
    expect(load('gateway:\n  port: ${PORT}\n', { PORT: '9999' }).gateway.port).toBe(9999)
    // an empty value is null, as if nothing were written there
    expect(messageOf('gateway:\n  port: ${PORT:-}\n')).toBe(
      'vigil.yaml: gateway.port: expected a port number 0-65535 (0 picks a free port), got null',
    )
  })

  it('keeps quoted values and values with more than the reference as text', () => {
    expect(messageOf("env: '${E}'\n", { E: '2024' })).toBe('no error')
    expect(load("env: '${E}'\n", { E: '2024' }).env).toBe('2024')
    expect(load('env: v${E}\n', { E: '2024' }).env).toBe('v2024')
    expect(load('env: ${E}\n', { E: '[a, b]' }).env).toBe('[a, b]')
    expect(messageOf('env: ${E}\n', { E: '2024' })).toBe(
      'vigil.yaml: env: expected text, got 2024; quote it: "2024"',
    )
  })

  it('uses the default when the variable is unset or empty, and $${VAR} is literal', () => {
    expect(load('env: ${E:-staging}\n').env).toBe('staging')
    expect(load('env: ${E:-staging}\n', { E: '' }).env).toBe('staging')
    expect(load('env: ${E:-staging}\n', { E: 'prod' }).env).toBe('prod')
    expect(load('env: a$${E}b\n', { E: 'prod' }).env).toBe('a${E}b')
  })

  it('does not substitute keys', () => {
    expect(messageOf('${KEY}: 1\n', { KEY: 'env' })).toBe(
      'vigil.yaml: ${KEY}: unknown key "${KEY}"; remove it or check its spelling',
    )
  })

  it('reads an unquoted ${VAR} inside [ ] or { } as one value, and names its line when unset', () => {
    expect(load('gateway: { port: ${PORT} }\n', { PORT: '9001' }).gateway.port).toBe(9001)
    expect(load("gateway: { port: '${PORT}' }\n", { PORT: '9001' }).gateway.port).toBe(9001)
    const flow =
      'services:\n  api: { targets: [${A}, "${B:-http://127.0.0.1:2}"] }\nroutes: [{ path: /, service: api }]\n'
    const targets = parseConfigText(flow, 'vigil.yaml', { A: 'http://127.0.0.1:1' }).services.api.targets
    expect(targets).toEqual(['http://127.0.0.1:1', 'http://127.0.0.1:2'])
    // a variable holding a quote and a comma stays one value: it cannot add a target
    expect(() => parseConfigText(flow, 'vigil.yaml', { A: "http://127.0.0.1:1', 'http://evil:3" })).toThrow(
      /services\.api\.targets\[0\]: expected an http:\/\/ or https:\/\/ URL, got "http:\/\/127\.0\.0\.1:1', 'http:\/\/evil:3"/,
    )
    expect(messageOf('env: x\ngateway: { port: ${PORT} }\n')).toBe(
      'vigil.yaml: gateway.port: environment variable PORT (line 7) is not set; export it or write ${PORT:-default}',
    )
  })
})
