/** Preact hooks over the live store and the API. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { ApiError, api } from './api.js'
import { liveStore, type LiveStore } from './live.js'

/** Re-renders on every applied live event (at most once per frame) and returns the store. */
export function useLive(): LiveStore {
  const [, setV] = useState(0)
  useEffect(() => liveStore.subscribe(() => setV((x) => x + 1)), [])
  return liveStore
}

/** Re-renders once a second (relative times, "now" lines). */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs)
    return () => clearInterval(t)
  }, [everyMs])
  return now
}

export interface Fetched<T> {
  data: T | null
  error: ApiError | null
  loading: boolean
  reload: () => void
}

/**
 * GETs `path` (null: nothing) and again every `refreshMs` when given; keeps the last data while
 * reloading, so a page does not flicker.
 */
export function useApi<T>(path: string | null, refreshMs?: number): Fetched<T> {
  const [data, setData] = useState<T | null>(null)
  const [error, setError] = useState<ApiError | null>(null)
  const [loading, setLoading] = useState(false)
  const [n, setN] = useState(0)
  const reload = useCallback(() => setN((x) => x + 1), [])
  const pathRef = useRef(path)
  useEffect(() => {
    if (pathRef.current !== path) {
      pathRef.current = path
      setData(null)
    }
    if (path === null) return
    const ac = new AbortController()
    setLoading(true)
    api<T>(path, { signal: ac.signal }).then(
      (d) => {
        setData(d)
        setError(null)
        setLoading(false)
      },
      (e: unknown) => {
        if ((e as Error).name === 'AbortError') return
        setError(e instanceof ApiError ? e : new ApiError(0, null, String(e)))
        setLoading(false)
      },
    )
    return () => ac.abort()
  }, [path, n])
  useEffect(() => {
    if (refreshMs === undefined || path === null) return
    const t = setInterval(reload, refreshMs)
    return () => clearInterval(t)
  }, [refreshMs, path, reload])
  return { data, error, loading, reload }
}
