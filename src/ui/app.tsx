/** The shell: login gate, navigation, connection state, theme switch, and the page router. */
import { useEffect, useState } from 'preact/hooks'
import type { SessionInfo } from '../api/routes/dashboard.js'
import { api, ApiError, getToken, isRemembered, logout, onLoggedOut, setToken } from './lib/api.js'
import { Panel } from './components/ui.js'
import { useLive } from './lib/hooks.js'
import { live } from './lib/live.js'
import { href, loginLinkToken, useRoute } from './lib/router.js'
import { setTheme, useTheme } from './lib/theme.js'
import { AdminPage } from './pages/admin.js'
import { AlertsPage } from './pages/alerts.js'
import { AuditPage } from './pages/audit.js'
import { JourneysPage } from './pages/journeys.js'
import { LimitsPage } from './pages/limits.js'
import { LoginPage } from './pages/login.js'
import { OverviewPage } from './pages/overview.js'
import { ScalingPage } from './pages/scaling.js'
import { SeriesPage } from './pages/series.js'

export type Session = SessionInfo & { features: string[]; ok: true }

interface NavItem {
  page: string
  label: string
  /** shown only when the server offers this feature */
  feature?: string
}

const NAV: readonly NavItem[] = [
  { page: 'overview', label: 'Overview' },
  { page: 'series', label: 'Services', feature: 'series' },
  { page: 'limits', label: 'Rate limits', feature: 'limits' },
  { page: 'alerts', label: 'Alerts', feature: 'alerts' },
  { page: 'scale', label: 'Autoscaling', feature: 'scale' },
  { page: 'journeys', label: 'Journeys', feature: 'journeys' },
  { page: 'admin', label: 'Admin' },
  { page: 'audit', label: 'Audit' },
]

/** A login link's token, taken out of the address bar (null without one). */
export function takeLoginLinkToken(): string | null {
  const t = loginLinkToken(location.hash)
  if (t !== null) history.replaceState(null, '', `${location.pathname}${location.search}#/`)
  return t
}

export function App(props: { linkToken: string | null }) {
  const [session, setSession] = useState<Session | null>(null)
  const [checking, setChecking] = useState(getToken() !== null || props.linkToken !== null)
  const [loginError, setLoginError] = useState<ApiError | null>(null)
  const [notice, setNotice] = useState('')

  const check = async (token: string, remember: boolean): Promise<boolean> => {
    try {
      const s = await api<Session>('/api/session', { token })
      setToken(token, remember)
      setSession(s)
      setLoginError(null)
      live.start()
      return true
    } catch (e) {
      setLoginError(e instanceof ApiError ? e : new ApiError(0, null, String(e)))
      // a refused login link in a tab that showed the dashboard: back to the login page
      live.stop()
      setSession(null)
      return false
    } finally {
      setChecking(false)
    }
  }

  useEffect(() => {
    const t = props.linkToken ?? getToken()
    // a reload checks the kept token again: it stays remembered if it was
    if (t !== null) void check(t, isRemembered(t))
    // a login link opened in a tab that already shows the dashboard (no page load)
    const onHash = () => {
      const link = takeLoginLinkToken()
      if (link !== null) void check(link, isRemembered(link))
    }
    window.addEventListener('hashchange', onHash)
    const off = onLoggedOut((reason) => {
      live.stop()
      setSession(null)
      setNotice(reason)
    })
    return () => {
      window.removeEventListener('hashchange', onHash)
      off()
    }
  }, [])

  if (session === null) {
    if (checking) return <p class="login muted">Checking the session…</p>
    return <LoginPage onLogin={check} error={loginError} notice={notice} />
  }
  return <Shell session={session} />
}

function Shell(props: { session: Session }) {
  const route = useRoute()
  const store = useLive()
  const theme = useTheme()
  const { session } = props
  const items = NAV.filter((n) => n.feature === undefined || session.features.includes(n.feature))
  const status = store.status
  const statusText =
    status === 'live'
      ? 'live'
      : status === 'connecting'
        ? 'connecting…'
        : status === 'reconnecting'
          ? 'reconnecting…'
          : 'offline, retrying'
  const page = route.page
  let body
  switch (page) {
    case 'series':
      body = <SeriesPage session={session} args={route.args} />
      break
    case 'limits':
      body = <LimitsPage mode={session.mode} />
      break
    case 'alerts':
      body = <AlertsPage args={route.args} />
      break
    case 'scale':
      body = <ScalingPage session={session} />
      break
    case 'journeys':
      body = <JourneysPage args={route.args} />
      break
    case 'admin':
      body = <AdminPage session={session} />
      break
    case 'audit':
      body = <AuditPage session={session} />
      break
    case 'overview':
      body = <OverviewPage session={session} />
      break
    default:
      // a mistyped or outdated link: say so rather than show another page under its address
      body = (
        <Panel title="No such page">
          <p>
            There is no page <code>#/{page}</code>. <a href={href('overview')}>Go to the overview</a>, or pick
            a page on the left.
          </p>
        </Panel>
      )
  }
  const title = NAV.find((n) => n.page === page)?.label ?? 'Not found'
  useEffect(() => {
    document.title = `${title} · Vigil`
  }, [title])
  return (
    <div class="layout">
      <a
        class="skip"
        href="#main"
        onClick={(e) => (e.preventDefault(), document.getElementById('main')?.focus())}
      >
        Skip to content
      </a>
      <aside class="side">
        <div class="brand">
          <svg width="22" height="22" viewBox="0 0 32 32" aria-hidden="true">
            <circle cx="16" cy="16" r="13" fill="none" stroke="var(--accent)" stroke-width="4" />
            <circle cx="16" cy="16" r="5" fill="var(--accent)" />
          </svg>
          Vigil
        </div>
        <nav aria-label="Pages">
          {items.map((n) => (
            <a key={n.page} href={href(n.page)} aria-current={n.page === page ? 'page' : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <div class="foot">
          <div>
            {session.mode} · env {session.env}
          </div>
          <div>window {session.windowMs / 1000}s</div>
        </div>
      </aside>
      <main id="main" tabIndex={-1}>
        <header class="top">
          <h1>{title}</h1>
          <span class="conn" role="status" aria-live="polite">
            <span class={`dot ${status}`} aria-hidden="true" />
            {statusText}
            {Object.keys(store.errors).length > 0 && (
              <span
                class="badge warn"
                title={Object.entries(store.errors)
                  .map(([k, v]) => `${k}: ${v}`)
                  .join('\n')}
              >
                ! {Object.keys(store.errors).join(', ')} unavailable
              </span>
            )}
          </span>
          <button
            type="button"
            onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
            aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
          >
            {theme === 'dark' ? '☀ Light' : '☾ Dark'}
          </button>
          <button type="button" onClick={() => logout('Logged out.')}>
            Log out
          </button>
        </header>
        {body}
      </main>
    </div>
  )
}
