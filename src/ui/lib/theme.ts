/** Light and dark: the system's choice unless the user picked one (kept in localStorage). */
import { useEffect, useState } from 'preact/hooks'

export type Theme = 'light' | 'dark'
const KEY = 'vigil.theme'
const listeners = new Set<(t: Theme) => void>()

function system(): Theme {
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'
}

export function currentTheme(): Theme {
  const saved = localStorage.getItem(KEY)
  return saved === 'dark' || saved === 'light' ? saved : system()
}

export function applyTheme(t: Theme): void {
  document.documentElement.dataset.theme = t
  varCache.clear()
  for (const f of listeners) f(t)
}

export function setTheme(t: Theme): void {
  localStorage.setItem(KEY, t)
  applyTheme(t)
}

export function useTheme(): Theme {
  const [t, setT] = useState(currentTheme)
  useEffect(() => {
    listeners.add(setT)
    return () => void listeners.delete(setT)
  }, [])
  return t
}

const varCache = new Map<string, string>()

/**
 * A CSS variable's value (charts draw on canvas and need real colours). Cached per theme:
 * getComputedStyle forces a style recalculation of the page, which cost a frame per live event.
 */
export function cssVar(name: string): string {
  let v = varCache.get(name)
  if (v === undefined) {
    v = getComputedStyle(document.documentElement).getPropertyValue(name).trim()
    varCache.set(name, v)
  }
  return v
}
