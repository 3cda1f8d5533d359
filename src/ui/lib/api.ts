/**
 * Calls to the admin API with the admin token, and its problem+json errors as `ApiError`. The
 * token lives in sessionStorage (this tab only) unless the user asked to be remembered on this
 * browser (localStorage). A 401 anywhere logs out and shows the login page.
 */

import { ApiError } from './api-error.js'

export { ApiError }

const KEY = 'vigil.token'

let token: string | null = sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY)
const onLogout = new Set<(reason: string) => void>()

export function getToken(): string | null {
  return token
}

/** True when `t` is the token kept on this browser ("Remember on this browser"), not just in this tab. */
export function isRemembered(t: string): boolean {
  return localStorage.getItem(KEY) === t
}

export function setToken(t: string, remember: boolean): void {
  token = t
  sessionStorage.setItem(KEY, t)
  if (remember) localStorage.setItem(KEY, t)
  else localStorage.removeItem(KEY)
}

export function logout(reason = ''): void {
  token = null
  sessionStorage.removeItem(KEY)
  localStorage.removeItem(KEY)
  for (const f of onLogout) f(reason)
}

export function onLoggedOut(f: (reason: string) => void): () => void {
  onLogout.add(f)
  return () => onLogout.delete(f)
}

/** ETags of resources read, so a write sends If-Match where the server supports it. */
const etags = new Map<string, string>()

export interface ApiOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  body?: unknown
  /** the resource whose ETag (from a GET) goes in If-Match; default: the same path */
  ifMatchOf?: string
  /** `*`: create only, refused (412) when the resource exists already */
  ifNoneMatch?: '*'
  signal?: AbortSignal
  /** use this token instead of the stored one (the login check) */
  token?: string
}

export async function api<T>(path: string, opts: ApiOptions = {}): Promise<T> {
  const method = opts.method ?? 'GET'
  const headers: Record<string, string> = { accept: 'application/json' }
  const t = opts.token ?? token
  if (t !== null) headers.authorization = `Bearer ${t}`
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  if (method !== 'GET') {
    headers['x-vigil-actor'] = 'dashboard'
    const tag = etags.get(opts.ifMatchOf ?? path)
    if (opts.ifNoneMatch !== undefined) headers['if-none-match'] = opts.ifNoneMatch
    else if (tag !== undefined) headers['if-match'] = tag
  }
  let res: Response
  try {
    res = await fetch(path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: opts.signal,
      cache: 'no-store',
    })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw new ApiError(0, null, 'Vigil does not answer (is it running?)')
  }
  const type = res.headers.get('content-type') ?? ''
  const body: unknown = type.includes('json') ? await res.json().catch(() => null) : await res.text()
  if (!res.ok) {
    if (res.status === 401 && opts.token === undefined) logout('Your session was refused: log in again.')
    if (res.status === 412) etags.delete(opts.ifMatchOf ?? path)
    throw new ApiError(
      res.status,
      typeof body === 'object' ? (body as Record<string, unknown>) : null,
      `${method} ${path}: HTTP ${res.status}`,
    )
  }
  const tag = res.headers.get('etag')
  if (tag !== null) etags.set(path, tag)
  return body as T
}

/** `service|route|env` → the path segment the series routes take. */
export function keyPath(key: string): string {
  return encodeURIComponent(key)
}
