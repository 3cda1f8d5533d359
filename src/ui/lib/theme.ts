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

/** A CSS variable's value now (charts draw on canvas and need real colours). */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim()
}
