/** The dashboard's entry: theme first (no flash), the login link's token, then the app. */
import { render } from 'preact'
import { App, takeLoginLinkToken } from './app.js'
import { applyTheme, currentTheme } from './lib/theme.js'
import './styles.css'

applyTheme(currentTheme())
// `vigil demo` prints a login link `http://host:port/#token=...`: the fragment never reaches the
// server or its logs; it is read here, checked by the login page, and removed from the address bar.
const linkToken = takeLoginLinkToken()

render(<App linkToken={linkToken} />, document.getElementById('app')!)
