/**
 * @module Why a listener (the gateway, the admin API, the OTLP receiver) could not bind, as one
 * line naming the config field and the fix, instead of an errno code: the person reading it is
 * starting Vigil and wants to know which field to change.
 */

/** A listener as its config names it. */
export interface ListenSite {
  /** the config block holding its `host` and `port`: `gateway`, `admin`, `telemetry.otlp` */
  readonly block: string
  readonly host: string
  readonly port: number
  /** another way out, appended to the fix: `or set telemetry.otlp.enabled: false to turn it off` */
  readonly orElse?: string
  /** how the user sets host and port when it is not `block.host` / `block.port` (flags: `--port`) */
  readonly names?: { readonly host: string; readonly port: string }
}

/**
 * The line for a failed `listen()` on `site`.
 *
 * @example
 * listenProblem({ block: 'gateway', host: '0.0.0.0', port: 8080 }, { code: 'EADDRINUSE' })
 * // 'gateway.port 8080 is in use by another process: stop it, or set gateway.port to a free port'
 */
export function listenProblem(site: ListenSite, err: { code?: string; message?: string }): string {
  const port = site.names?.port ?? `${site.block}.port`
  const host = site.names?.host ?? `${site.block}.host`
  const orElse = site.orElse === undefined ? '' : `, ${site.orElse}`
  switch (err.code) {
    case 'EADDRINUSE':
      return `${port} ${site.port} is in use by another process: stop it, or set ${port} to a free port${orElse}`
    case 'EACCES':
    case 'EPERM':
      return site.port > 0 && site.port < 1024
        ? `${port} ${site.port} is not permitted for this user (ports below 1024 need root or CAP_NET_BIND_SERVICE): set ${port} to 1024 or above${orElse}`
        : `${port} ${site.port} on ${site.host} is not permitted for this user: set ${port} to another port${orElse}`
    case 'EADDRNOTAVAIL':
      return `${host} ${site.host} is not an address of this machine: set ${host} to one of its addresses, 127.0.0.1, or 0.0.0.0 for all${orElse}`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${host} "${site.host}" does not resolve to an address: set ${host} to an IP address or a name this machine resolves${orElse}`
    default:
      return `${site.block} cannot listen on ${site.host}:${site.port}: ${err.code ?? err.message ?? 'unknown error'}; check ${host} and ${port}${orElse}`
  }
}
