/** The login page: the admin token, checked by the server before anything else is shown. */
import { useState } from 'preact/hooks'
import { Problem } from '../components/ui.js'
import type { ApiError } from '../lib/api.js'

export function LoginPage(props: {
  onLogin: (token: string, remember: boolean) => Promise<boolean>
  error: ApiError | null
  notice: string
}) {
  const [token, setToken] = useState('')
  const [remember, setRemember] = useState(false)
  const [busy, setBusy] = useState(false)
  const [invalid, setInvalid] = useState('')
  const submit = async (e: Event) => {
    e.preventDefault()
    const t = token.trim()
    if (t === '') {
      setInvalid('Enter the admin token (admin.token in the config, or $VIGIL_ADMIN_TOKEN).')
      return
    }
    setInvalid('')
    setBusy(true)
    await props.onLogin(t, remember)
    setBusy(false)
  }
  return (
    <main class="login" id="main">
      <section class="panel">
        <h1 style={{ fontSize: '20px', marginTop: 0 }}>Vigil</h1>
        <p class="muted">Log in with the admin token to see the dashboard.</p>
        {props.notice !== '' && <p class="notice">{props.notice}</p>}
        <form onSubmit={submit} noValidate>
          <label for="token">
            Admin token
            <input
              id="token"
              name="token"
              type="password"
              autoComplete="current-password"
              value={token}
              aria-invalid={invalid !== '' || props.error !== null}
              aria-describedby={invalid !== '' ? 'token-err' : undefined}
              onInput={(e) => setToken((e.target as HTMLInputElement).value)}
              autoFocus
            />
          </label>
          {invalid !== '' && (
            <div id="token-err" class="problem" role="alert">
              {invalid}
            </div>
          )}
          <label class="inline">
            <input
              type="checkbox"
              checked={remember}
              onChange={(e) => setRemember((e.target as HTMLInputElement).checked)}
            />
            Remember on this browser
          </label>
          <button class="primary" type="submit" disabled={busy}>
            {busy ? 'Checking…' : 'Log in'}
          </button>
        </form>
        <Problem error={props.error} title="Login refused" />
        <p class="small muted">
          <code>vigil demo</code> prints a login link with a fresh token. The token is kept in this tab only
          unless you ask to be remembered.
        </p>
      </section>
    </main>
  )
}
