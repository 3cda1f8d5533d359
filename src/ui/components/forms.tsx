/**
 * Form plumbing shared by the pages that change things: field checks that run before anything is
 * sent, and an action's busy state, the server's problem+json when it refuses, and what it did.
 */
import { useState } from 'preact/hooks'
import type { ApiError } from '../lib/api.js'
import { Problem } from './ui.js'

/** Parses a positive number field; returns an error message or the value. */
export function positive(
  text: string,
  field: string,
  opts: { integer?: boolean; min?: number } = {},
): number | string {
  const t = text.trim()
  if (t === '') return `${field} is required`
  const n = Number(t)
  if (!Number.isFinite(n)) return `${field} must be a number`
  if (opts.integer === true && !Number.isInteger(n)) return `${field} must be a whole number`
  if (opts.min !== undefined ? n < opts.min : n <= 0)
    return `${field} must be ${opts.min !== undefined ? `at least ${opts.min}` : 'greater than 0'}`
  return n
}

export function useAction() {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | Error | null>(null)
  const [done, setDone] = useState('')
  const run = async (what: () => Promise<string>) => {
    setBusy(true)
    setError(null)
    setDone('')
    try {
      setDone(await what())
    } catch (e) {
      setError(e as Error)
    } finally {
      setBusy(false)
    }
  }
  const fail = (message: string) => {
    setDone('')
    setError(new Error(message))
  }
  return { busy, error, done, run, fail }
}

export function Result(props: { a: ReturnType<typeof useAction>; title: string }) {
  return (
    <>
      <Problem error={props.a.error} title={props.title} />
      {props.a.done !== '' && (
        <p class="notice" role="status">
          {props.a.done}
        </p>
      )}
    </>
  )
}
