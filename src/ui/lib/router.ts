/**
 * Hash routing (`#/limits`, `#/series/<key>`): the server serves one page at `/` and never needs
 * to know the dashboard's paths; back, forward and bookmarks work.
 */
import { useEffect, useState } from 'preact/hooks'

export interface Route {
  page: string
  /** path segments after the page, decoded */
  args: string[]
  query: URLSearchParams
}

/**
 * The token of a login link (`#token=…`, as `vigil demo` prints it), or null. The fragment never
 * reaches the server or its logs; the page reads it, checks it and removes it from the address bar.
 */
export function loginLinkToken(hash: string): string | null {
  const m = /^#token=([^&]+)/.exec(hash)
  if (m === null) return null
  try {
    return decodeURIComponent(m[1])
  } catch {
    return m[1]
  }
}

export function parseHash(hash: string): Route {
  // a login link is no page: it shows the overview once the token is checked
  if (loginLinkToken(hash) !== null) return { page: 'overview', args: [], query: new URLSearchParams() }
  const h = hash.replace(/^#\/?/, '')
  const [path, q = ''] = h.split('?')
  const parts = path.split('/').filter((p) => p !== '')
  return {
    page: parts[0] ?? 'overview',
    args: parts.slice(1).map((p) => decodeURIComponent(p)),
    query: new URLSearchParams(q),
  }
}

export function href(page: string, ...args: string[]): string {
  return `#/${[page, ...args.map((a) => encodeURIComponent(a))].join('/')}`
}

export function navigate(to: string): void {
  if (location.hash !== to) location.hash = to
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash))
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash))
    window.addEventListener('hashchange', on)
    return () => window.removeEventListener('hashchange', on)
  }, [])
  return route
}
