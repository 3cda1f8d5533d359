/**
 * Scaled out, the audit trail: admin changes made on a `vigil gateway`'s admin API travel over
 * NATS JetStream to `vigil control`, which stores them in PostgreSQL and serves them at
 * `GET /api/audit`; the gateway's `audit.jsonl` has the same events with the same ids. A change made
 * while no control plane runs waits in JetStream and is stored once it starts.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { serviceAvailable } from '../helpers/services.js'
import { poll, READY, scaledOut, stop } from './control-support.js'

const up = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))
const TOKEN = 'audit-scaled-token'

interface Page {
  events: Array<{ id: string; kind: string; actor: string; subject: string; after: unknown }>
  nextCursor: string | null
}

describe.skipIf(!up)('scaled out: the audit trail in PostgreSQL via NATS', () => {
  const w = scaledOut({
    name: 'audit',
    config: (id, dir) => ({
      limits: { enabled: true, dataDir: join(dir, id) },
      detect: { enabled: false },
      forecast: { enabled: false },
    }),
    env: { VIGIL_ADMIN_TOKEN: TOKEN },
  })

  it(
    'stores gateway admin changes once and serves them from vigil control',
    { timeout: 120_000 },
    async () => {
      const gw = w.spawn('gateway', 'gw-1')
      const gwAdmin = await gw.waitFor(READY.gatewayAdmin)
      const change = (method: string, path: string, body: object, actor: string) =>
        fetch(`${gwAdmin}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${TOKEN}`,
            'x-vigil-actor': actor,
            'content-type': 'application/json',
          },
          body: JSON.stringify(body),
        })
      // made before any control plane runs: waits in JetStream
      expect(
        (await change('PUT', '/api/limits/tiers/GOLD', { ratePerSec: 50, burst: 100 }, 'alice')).status,
      ).toBe(200)
      const control = await w.startControl()
      const controlAdmin = control.url
      expect((await change('POST', '/api/limits/keys', { id: 'acme', tier: 'GOLD' }, 'bob')).status).toBe(201)
      expect((await change('PATCH', '/api/limits/keys/acme', { burst: 7 }, 'alice')).status).toBe(200)

      const audit = async (qs = '') => (await fetch(`${controlAdmin}/api/audit${qs}`)).json() as Promise<Page>
      const all = await poll(audit, (p) => p.events?.length === 3, 'three changes at /api/audit', 30_000)
      expect(all.events.map((e) => [e.kind, e.actor, e.subject])).toEqual([
        ['limits.key.update', 'alice', 'acme'],
        ['limits.key.create', 'bob', 'acme'],
        ['limits.tier.update', 'alice', 'GOLD'],
      ])
      expect((await audit('?actor=alice&kind=limits.key.*')).events.map((e) => e.kind)).toEqual([
        'limits.key.update',
      ])
      const lines = readFileSync(join(w.dir, 'gw-1', 'audit.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { id: string })
      expect(lines.map((l) => l.id).reverse()).toEqual(all.events.map((e) => e.id))
      await stop(gw, control)
    },
  )
})
