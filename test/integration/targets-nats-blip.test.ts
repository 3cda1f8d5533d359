/**
 * A NATS outage of a few seconds while the control plane waits for a gateway to confirm new
 * targets: a private nats-server (own port, own store directory) is SIGKILLed while the gateway is
 * still draining its requests to the dropped target, then restarted on the same directory. The
 * gateway reaches the server through a TCP proxy that stays cut a while longer, so it is back
 * later than the control plane (as a client waiting out its reconnect delay is): the server says
 * nobody answers its probes for a few seconds. It answers again once reconnected, so the pool keeps
 * waiting for it (it is not taken for gone) and resolves on its confirmation.
 */
import { describe, expect, it } from 'vitest'
import { NatsBus } from '../../src/bus/nats.js'
import { BusTargetPool, aliveSubject, followTargets } from '../../src/bus/targets.js'
import { haveNatsServer, startNatsServer } from '../helpers/nats-server.js'
import { freshTargetStreams } from '../helpers/target-streams.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'
import { freePort } from './limits-support.js'

const up = haveNatsServer()
// On a laptop without it this file skips with one line; CI must run it (see test/helpers/services.ts).
if (!up && process.env.CI === 'true')
  throw new Error(
    'targets-nats-blip: nats-server is not installed (or set VIGIL_NATS_SERVER); CI=true requires it',
  )
if (!up) process.stderr.write('skipping targets-nats-blip: nats-server is not installed\n')

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

describe.skipIf(!up)('targets: NATS killed while the pool waits for a gateway', () => {
  it(
    'the gateway is not forgotten over a 3 s outage it comes back from late, and confirms the list after it',
    { timeout: 60_000 },
    async () => {
      const nats = await startNatsServer(await freePort())
      const proxy = await startTcpProxy({ host: '127.0.0.1', port: nats.port })
      const { subject, streams } = freshTargetStreams()
      const control = await NatsBus.connect({ servers: nats.url, streams })
      const gw = await NatsBus.connect({ servers: `127.0.0.1:${proxy.port}`, streams })
      const warnings: string[] = []
      // the defaults `vigil control` runs with: a probe a second, gone after 10 s of absence
      const pool = new BusTargetPool(control, subject, {
        drainTimeoutMs: 40_000,
        onWarn: (m) => warnings.push(m),
      })
      let drain = () => {}
      try {
        await pool.start()
        const applied: string[][] = []
        const bad: string[] = []
        await followTargets(
          gw,
          subject,
          async (_s, urls) => {
            applied.push([...(urls ?? [])])
            // the requests to the dropped target finish when the test says so
            if (applied.length > 1) await new Promise<void>((ok) => (drain = ok))
          },
          (w) => bad.push(w),
          'gw-1',
        )
        await pool.setTargets('orders', ['http://10.0.0.2:8080', 'http://10.0.0.3:8080'])
        await until(() => applied.length === 1, 'the first list applied')
        await sleep(300) // its confirmation reaches the pool

        let resolved = false
        const swap = pool.setTargets('orders', ['http://10.0.0.2:8080']).then(() => (resolved = true))
        await until(() => applied.length === 2, 'the second list applied')
        await proxy.cut()
        await nats.kill()
        await sleep(3_000)
        await nats.restart()
        // the control plane is back first: the server says nobody answers for the gateway
        const alive = aliveSubject(subject, 'gw-1')
        await until(async () => (await control.probe(alive, 500)) === 'absent', 'the control plane back')
        await sleep(3_000) // several of the pool's probes find nobody
        await proxy.restore()
        // the gateway's client reconnects (its probe subscription with it)
        await until(
          async () => (await control.probe(alive, 500)) === 'present',
          'the gateway answering again',
        )
        await sleep(2_000) // the pool probes it again meanwhile
        expect(resolved).toBe(false)
        expect(warnings).toEqual([])

        const t0 = Date.now()
        drain() // its requests to the dropped target finished: it confirms
        await swap
        expect(Date.now() - t0).toBeLessThan(15_000)
        expect(warnings).toEqual([]) // neither gone nor timed out
        expect(bad).toEqual([])
        expect(applied).toEqual([['http://10.0.0.2:8080', 'http://10.0.0.3:8080'], ['http://10.0.0.2:8080']])
      } finally {
        drain()
        await pool.close()
        await gw.close()
        await control.close()
        await proxy.close()
        await nats.close() // its store directory, streams included, goes too
      }
    },
  )
})
