import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import type { AlertSource, SilenceInput } from '../control/alerting.js'
import { alertRoutes } from './routes/alerts.js'
import { scalingRoutes, type ScalingRoutesOptions } from './routes/scaling.js'
import { adminAppWith } from '../../test/helpers/admin-app.js'
import type { ReloadResult } from './sources.js'

const TOKEN = 's3cret'
const auth = { authorization: `Bearer ${TOKEN}`, 'x-vigil-actor': 'alice' }

function fakeAutoscaler(): ScalingRoutesOptions['autoscaler'] {
  return {
    scale: async (_name, replicas) => ({ id: 'act-1', status: 'ok', before: 1, after: replicas }),
    restart: async () => ({ id: 'act-2', status: 'ok' }),
    scaling: async () => {
      throw new Error('not used')
    },
  }
}

type Silence = Awaited<ReturnType<AlertSource['createSilence']>>
type Alert = Awaited<ReturnType<AlertSource['ackAlert']>>

function fakeAlerts(): AlertSource {
  const silences: Silence[] = []
  return {
    listAlerts: async () => [],
    getAlert: async () => {
      throw new Error('not used')
    },
    ackAlert: async (fingerprint, by, comment) =>
      ({
        fingerprint,
        rule: 'r',
        kind: 'latency',
        state: 'firing',
        key: 'orders|*|prod',
        labels: {},
        evidence: {},
        ack: { by, comment, atMs: 5 },
      }) as unknown as Alert,
    listSilences: async () => silences,
    createSilence: async (input: SilenceInput) => {
      const s = {
        ...input,
        matchers: [{ name: 'service', value: 'orders', isRegex: false, isEqual: true }],
        id: `sil-${silences.length + 1}`,
        createdAtMs: 1,
      } as unknown as Silence
      silences.push(s)
      return s
    },
    deleteSilence: async (id) => {
      silences.splice(
        silences.findIndex((s) => s.id === id),
        1,
      )
    },
  } as AlertSource
}

const apps: FastifyInstance[] = []
async function build(reload?: () => Promise<ReloadResult>) {
  const { app, audit } = await adminAppWith(
    TOKEN,
    (audit) => [
      scalingRoutes({ autoscaler: fakeAutoscaler(), services: ['users'], audit }),
      alertRoutes({ source: fakeAlerts(), audit, now: () => 1_000 }),
    ],
    reload ??
      (async () => ({ ok: true, routes: 2, changed: ['gateway.port'], restartRequired: ['gateway.port'] })),
  )
  apps.push(app)
  return { app, audit }
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

describe('every admin change goes to the audit log', () => {
  it('a manual scale: who, what, before, after, why', async () => {
    const { app, audit } = await build()
    const r = await app.inject({
      method: 'POST',
      url: '/api/services/users/scale',
      headers: auth,
      payload: { replicas: 3, reason: 'launch day' },
    })
    expect(r.statusCode).toBe(200)
    expect(audit.events).toEqual([
      expect.objectContaining({
        kind: 'scale.manual',
        actor: 'alice',
        subject: 'users',
        before: { replicas: 1 },
        after: { replicas: 3, requested: 3, status: 'ok', action: 'act-1' },
        reason: 'launch day',
      }),
    ])
    expect(Date.parse(audit.events[0]!.at)).toBeGreaterThan(0)
  })

  it('a scale or restart with no reason is refused, naming the field, and records nothing', async () => {
    const { app, audit } = await build()
    for (const [url, payload] of [
      ['/api/services/users/restart', {}],
      ['/api/services/users/scale', { replicas: 2 }],
      ['/api/services/users/scale', { replicas: 2, reason: '  ' }],
    ] as const) {
      const r = await app.inject({ method: 'POST', url, headers: auth, payload })
      expect(r.statusCode, url).toBe(400)
      expect(r.json()).toMatchObject({
        code: 'VGL_ERR_SCALE_REQUEST',
        message: expect.stringMatching(/^reason: say why/),
      })
    }
    expect(audit.events).toEqual([])
  })

  it('a refused scale or restart records nothing', async () => {
    const { app, audit } = await build()
    const bad = await app.inject({
      method: 'POST',
      url: '/api/services/users/scale',
      headers: auth,
      payload: { replicas: 1.5 },
    })
    expect(bad.statusCode).toBe(400)
    const noToken = await app.inject({ method: 'POST', url: '/api/services/users/restart' })
    expect(noToken.statusCode).toBe(401)
    expect(audit.events).toEqual([])
  })

  it('a config reload, naming the changed fields (never their values)', async () => {
    const { app, audit } = await build()
    const r = await app.inject({
      method: 'POST',
      url: '/api/config/reload',
      headers: auth,
      payload: { reason: 'new port' },
    })
    expect(r.statusCode).toBe(200)
    expect(audit.events).toEqual([
      expect.objectContaining({
        kind: 'config.reload',
        actor: 'alice',
        subject: 'config',
        after: { routes: 2, changed: ['gateway.port'], restartRequired: ['gateway.port'] },
        reason: 'new port',
      }),
    ])
  })

  it('a rejected reload records nothing', async () => {
    const { app, audit } = await build(async () => ({ ok: false, problems: ['x: bad'] }))
    const r = await app.inject({ method: 'POST', url: '/api/config/reload', headers: auth })
    expect(r.statusCode).toBe(422)
    expect(audit.events).toEqual([])
  })

  it('silences created and deleted, and acknowledgements', async () => {
    const { app, audit } = await build()
    const created = await app.inject({
      method: 'POST',
      url: '/api/alerts/silences',
      headers: auth,
      payload: { matchers: 'service=orders', duration: '1h', comment: 'maintenance' },
    })
    expect(created.statusCode).toBe(201)
    const id = created.json().id as string
    const deleted = await app.inject({
      method: 'DELETE',
      url: `/api/alerts/silences/${id}`,
      headers: auth,
      payload: { reason: 'done early' },
    })
    expect(deleted.statusCode).toBe(204)
    const ack = await app.inject({
      method: 'POST',
      url: '/api/alerts/fp1/ack',
      headers: auth,
      payload: { by: 'bob', comment: 'looking' },
    })
    expect(ack.statusCode).toBe(200)
    expect(audit.events.map((e) => [e.kind, e.actor, e.subject, e.reason])).toEqual([
      ['alerts.silence.create', 'alice', id, 'maintenance'],
      ['alerts.silence.delete', 'alice', id, 'done early'],
      ['alerts.ack', 'bob', 'fp1', 'looking'],
    ])
    expect(audit.events[1]!.before).toMatchObject({ id, comment: 'maintenance' })
    expect(audit.events[0]!.at).toBe(new Date(1_000).toISOString())
  })
})

describe('admin calls whose body fields are all optional take no body', () => {
  it.each([
    ['POST', '/api/alerts/fp1/ack', 200],
    ['DELETE', '/api/alerts/silences/sil-9', 204],
    ['POST', '/api/config/reload', 200],
  ] as const)('%s %s with no body and no Content-Type', async (method, url, status) => {
    const { app } = await build()
    const r = await app.inject({ method, url, headers: auth })
    expect(r.statusCode, r.body).toBe(status)
  })

  it('an acknowledgement without a body is recorded for the actor, with no comment', async () => {
    const { app, audit } = await build()
    const r = await app.inject({ method: 'POST', url: '/api/alerts/fp1/ack', headers: auth })
    expect(r.json().ack).toEqual({ by: 'alice', comment: '', atMs: 5 })
    expect(audit.events.map((e) => [e.kind, e.actor, e.subject, e.reason])).toEqual([
      ['alerts.ack', 'alice', 'fp1', ''],
    ])
  })

  it('a silence or an acknowledgement sent a reason is told to send it as comment', async () => {
    const { app, audit } = await build()
    for (const [url, payload] of [
      ['/api/alerts/fp1/ack', { reason: 'looking' }],
      ['/api/alerts/silences', { matchers: 'service="orders"', duration: '1h', reason: 'deploy' }],
    ] as const) {
      const r = await app.inject({ method: 'POST', url, headers: auth, payload })
      expect(r.statusCode, url).toBe(400)
      expect(r.json()).toMatchObject({
        code: 'VGL_ERR_ALERTS_BAD_INPUT',
        message:
          'reason: silences and acknowledgements take their reason as "comment"; send { "comment": "..." }',
      })
    }
    expect(audit.events).toEqual([])
  })

  it('an acknowledgement body that is not an object is still refused', async () => {
    const { app } = await build()
    const r = await app.inject({
      method: 'POST',
      url: '/api/alerts/fp1/ack',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '[1]',
    })
    expect(r.statusCode).toBe(400)
    expect(r.json().code).toBe('VGL_ERR_ALERTS_BAD_INPUT')
  })
})

describe("alerts API body problems read like the config loader's", () => {
  it.each([
    [
      '/api/alerts/silences',
      { matchers: 5, duration: '1h' },
      'matchers: expected matchers as text (service="orders", env=~"prod|staging") or a list of { name, value, isRegex, isEqual }, got 5',
    ],
    [
      '/api/alerts/silences',
      { duration: '1x' },
      'matchers: missing; add it; duration: expected a duration like 30m, 2h or 1d, got "1x"',
    ],
    [
      '/api/alerts/silences',
      { matchers: 'service=orders', duration: '1h', bogus: 1 },
      'bogus: unknown key "bogus"; remove it or check its spelling',
    ],
    ['/api/alerts/fp1/ack', { by: 5 }, 'by: expected text, got 5; send it as a string: "5"'],
  ])('POST %s %j', async (url, payload, message) => {
    const { app, audit } = await build()
    const r = await app.inject({ method: 'POST', url, headers: auth, payload })
    expect(r.statusCode).toBe(400)
    expect(r.json()).toMatchObject({
      code: 'VGL_ERR_ALERTS_BAD_INPUT',
      message,
      fix: 'fix the named field as the message says; the request schema is in /docs/json',
    })
    expect(audit.events).toEqual([])
  })
})

describe('GET /api/alerts/silences?all', () => {
  it.each([
    ['', 200],
    ['?all=true', 200],
    ['?all=false', 200],
    ['?all=', 200],
  ])('%s is answered', async (query, status) => {
    const { app } = await build()
    expect((await app.inject(`/api/alerts/silences${query}`)).statusCode).toBe(status)
  })

  it.each(['maybe', 'yes', '1', 'TRUE'])(
    'all=%s is refused, naming the param and the values it takes',
    async (v) => {
      const { app } = await build()
      const r = await app.inject(`/api/alerts/silences?all=${v}`)
      expect(r.statusCode).toBe(400)
      expect(r.json()).toMatchObject({
        code: 'VGL_ERR_ALERTS_BAD_INPUT',
        message: `all: expected true or false, got "${v}"`,
        fix: 'send all=true or all=false, or leave it out for false',
      })
    },
  )
})

describe('reason: one rule and one message on every route (optional but on scale and restart)', () => {
  const cases: Array<[method: 'POST' | 'DELETE', url: string, body: Record<string, unknown>, code: string]> =
    [
      ['POST', '/api/services/users/scale', { replicas: 2 }, 'VGL_ERR_SCALE_REQUEST'],
      ['POST', '/api/services/users/restart', {}, 'VGL_ERR_SCALE_REQUEST'],
      ['POST', '/api/config/reload', {}, 'VGL_ERR_API_BAD_REQUEST'],
      ['DELETE', '/api/alerts/silences/sil-9', {}, 'VGL_ERR_ALERTS_BAD_INPUT'],
    ]
  it.each(cases)(
    '%s %s refuses a reason that is not a string or too long, naming the field',
    async (method, url, body, code) => {
      const { app, audit } = await build()
      const notText = await app.inject({ method, url, headers: auth, payload: { ...body, reason: 5 } })
      expect(notText.statusCode).toBe(400)
      expect(notText.json()).toMatchObject({
        code,
        message: 'reason: expected a string saying why (one sentence; it goes to the audit log), got 5',
      })
      const long = await app.inject({
        method,
        url,
        headers: auth,
        payload: { ...body, reason: 'x'.repeat(501) },
      })
      expect(long.statusCode).toBe(400)
      expect(long.json().message).toBe('reason: at most 500 characters, got 501; keep it to a sentence')
      expect(audit.events).toEqual([])
    },
  )
})
