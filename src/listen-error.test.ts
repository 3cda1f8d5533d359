import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { listenProblem } from './listen-error.js'

const gateway = { block: 'gateway', host: '0.0.0.0', port: 8080 }

describe('listenProblem', () => {
  it('names the field and the fix for a port in use', () => {
    expect(listenProblem(gateway, { code: 'EADDRINUSE' })).toBe(
      'gateway.port 8080 is in use by another process: stop it, or set gateway.port to a free port',
    )
    const otlp = { block: 'telemetry.otlp', host: '0.0.0.0', port: 4318, orElse: 'or turn it off' }
    expect(listenProblem(otlp, { code: 'EADDRINUSE' })).toBe(
      'telemetry.otlp.port 4318 is in use by another process: stop it, or set telemetry.otlp.port to a free port, or turn it off',
    )
  })

  it('says why a port is not permitted: privileged below 1024, otherwise just refused', () => {
    expect(listenProblem({ ...gateway, port: 80 }, { code: 'EACCES' })).toBe(
      'gateway.port 80 is not permitted for this user (ports below 1024 need root or CAP_NET_BIND_SERVICE): set gateway.port to 1024 or above',
    )
    expect(listenProblem({ block: 'admin', host: '127.0.0.1', port: 8081 }, { code: 'EACCES' })).toBe(
      'admin.port 8081 on 127.0.0.1 is not permitted for this user: set admin.port to another port',
    )
  })

  it('names the host field for an address this machine does not have, or a name that does not resolve', () => {
    expect(listenProblem({ ...gateway, host: '10.254.1.2' }, { code: 'EADDRNOTAVAIL' })).toBe(
      'gateway.host 10.254.1.2 is not an address of this machine: set gateway.host to one of its addresses, 127.0.0.1, or 0.0.0.0 for all',
    )
    expect(listenProblem({ ...gateway, host: 'nowhere.invalid' }, { code: 'ENOTFOUND' })).toMatch(
      /^gateway\.host "nowhere\.invalid" does not resolve/,
    )
    expect(listenProblem(gateway, { message: 'boom' })).toBe(
      'gateway cannot listen on 0.0.0.0:8080: boom; check gateway.host and gateway.port',
    )
  })

  it('reads the errno of a real failed listen', async () => {
    const busy = createServer()
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r))
    const port = (busy.address() as { port: number }).port
    const second = createServer()
    const err = await new Promise<NodeJS.ErrnoException>((r) => {
      second.once('error', r)
      second.listen(port, '127.0.0.1')
    })
    await new Promise<void>((r) => busy.close(() => r()))
    expect(listenProblem({ block: 'admin', host: '127.0.0.1', port }, err)).toBe(
      `admin.port ${port} is in use by another process: stop it, or set admin.port to a free port`,
    )
  })
})
