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
  const [working, setWorking] = useState('')
  /** `doing`: what to show while it runs, for actions that take a while (a rolling restart) */
  const run = async (what: () => Promise<string>, doing = '') => {
    setBusy(true)
    setError(null)
    setDone('')
    setWorking(doing)
    try {
      setDone(await what())
    } catch (e) {
      setError(e as Error)
    } finally {
      setBusy(false)
      setWorking('')
    }
  }
  const fail = (message: string) => {
    setDone('')
    setError(new Error(message))
  }
  return { busy, error, done, working, run, fail }
}

export function Result(props: { a: ReturnType<typeof useAction>; title: string }) {
  return (
    <>
      {props.a.busy && props.a.working !== '' && (
        <p class="notice" role="status">
          {props.a.working}
        </p>
      )}
      <Problem error={props.a.error} title={props.title} />
      {props.a.done !== '' && (
        <p class="notice" role="status">
          {props.a.done}
        </p>
      )}
    </>
  )
}
