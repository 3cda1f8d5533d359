/**
 * @module The address a listener (gateway, admin API, OTLP receiver) is bound to, in two forms: the
 * one an operator reads in the log (`http://0.0.0.0:8080 (all interfaces)`: where others reach
 * it), and a URL this host can call it by (`http://127.0.0.1:8080`: what tests and the demo use).
 * A log that gave only the second for a gateway bound to every interface read as if it listened
 * on loopback alone.
 */

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]', '::0', ''])

const bracketed = (host: string): string => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host)

/** A URL this host reaches the listener by: loopback for a wildcard address, the address otherwise. */
export function localUrl(host: string, port: number): string {
  return `http://${WILDCARDS.has(host) ? '127.0.0.1' : bracketed(host)}:${port}`
}

/**
 * The address as bound, for the log: `http://0.0.0.0:8080 (all interfaces)`,
 * `http://[::]:8080 (all interfaces)`, `http://10.0.0.5:8080`.
 */
export function listenAddress(host: string, port: number): string {
  if (!WILDCARDS.has(host)) return `http://${bracketed(host)}:${port}`
  const shown = host.includes(':') ? '[::]' : '0.0.0.0'
  return `http://${shown}:${port} (all interfaces)`
}
