import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { silenceLabels } from '../../alerts/index.js'
import { parseConfigText } from '../../config/index.js'
import { StoredAlerts } from '../../control/alerting.js'
import { SqliteStore } from '../../store/index.js'
import { adminAppWith } from '../../../test/helpers/admin-app.js'
import { alertRoutes } from './alerts.js'

const TOKEN = 's3cret'
const config = parseConfigText(
  [
    'services:',
    '  orders: { targets: [http://127.0.0.1:9001] }',
    '  payments: { targets: [http://127.0.0.1:9002] }',
    'routes:',
    '  - { path: /orders, service: orders }',
    '  - { name: checkout, path: /pay, service: payments }',
    'alerts: { rules: [{ name: errs, kind: error-ratio, labels: { team: payments } }] }',
  ].join('\n'),
  'vigil.yaml',
  {},
)

const open: { app: FastifyInstance; store: SqliteStore }[] = []
afterEach(async () => {
  for (const { app, store } of open.splice(0)) {
    await app.close()
    await store.close()
  }
})

/** The alerts API as `vigil control` serves it: the store's silences, the config's names. */
async function build() {
  const store = await SqliteStore.open({ path: ':memory:' })
  const { app, audit } = await adminAppWith(TOKEN, (audit) => [
    alertRoutes({ source: new StoredAlerts(store), audit, labels: () => silenceLabels(config) }),
  ])
  open.push({ app, store })
  return { app, store, audit }
}

const silence = (app: FastifyInstance, matchers: unknown) =>
  app.inject({
    method: 'POST',
    url: '/api/alerts/silences',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: { matchers, duration: '1h', comment: 'deploy' },
  })

describe('POST /api/alerts/silences against the configured names', () => {
  it('refuses an exact service matcher no configured service has, naming the known ones', async () => {
    const { app, store, audit } = await build()
    const r = await silence(app, 'env="prod", service="ordrs"')
    expect(r.statusCode).toBe(400)
    expect(r.json()).toMatchObject({
      code: 'VGL_ERR_ALERTS_BAD_INPUT',
      message:
        'matchers[1]: service="ordrs" matches no alert: no service "ordrs" is configured (known: orders, payments, *; for one not configured yet, use a regex: service=~"ordrs"); did you mean "orders"?',
    })
    expect(await store.listSilences()).toEqual([])
    expect(audit.events).toEqual([])
  })

  it('refuses an unknown route name, in the object form too, where routes are named by name or path', async () => {
    const { app } = await build()
    const r = await silence(app, [{ name: 'route', value: '/pay' }])
    expect(r.statusCode).toBe(400)
    expect(r.json().message).toBe(
      'matchers[0]: route="/pay" matches no alert: no route "/pay" is configured (known: /orders, checkout, *; for one not configured yet, use a regex: route=~"/pay")',
    )
  })

  it('refuses a label no alert carries, which would silence nothing (=, =~) or everything (!=, !~)', async () => {
    const { app, store } = await build()
    const r = await silence(app, 'sevrity="critical"')
    expect(r.statusCode).toBe(400)
    expect(r.json().message).toBe(
      'matchers[0]: no alert carries a label "sevrity" (labels: alertname, severity, kind, service, route, env, team); did you mean "severity"?',
    )
    const all = await silence(app, 'service="orders", owner!="alice"')
    expect(all.statusCode).toBe(400)
    expect(all.json().message).toMatch(/^matchers\[1\]: no alert carries a label "owner" \(labels: /)
    expect(await store.listSilences()).toEqual([])
  })

  it('accepts known names, "*", regex and negative matchers, and labels without a fixed set of values', async () => {
    const { app, store } = await build()
    for (const matchers of [
      'service="orders", route="checkout"',
      'service="*"',
      'service=~"ordrs|newsvc"',
      'service!="ordrs"',
      'env="staging", team="payments", alertname="any-rule"',
      [{ name: 'route', value: '/orders', isRegex: false, isEqual: true }],
    ])
      expect((await silence(app, matchers)).statusCode, JSON.stringify(matchers)).toBe(201)
    expect(await store.listSilences()).toHaveLength(6)
  })
})
