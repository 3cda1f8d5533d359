import { randomBytes } from 'node:crypto'
import { serviceAvailable } from '../helpers/services.js'
import { busContract } from '../../src/bus/bus.contract.js'
import { NatsBus } from '../../src/bus/nats.js'

const up = await serviceAvailable('nats')

if (up) {
  // unique streams and subjects per run, deleted afterwards: runs never see each other's data
  const run = randomBytes(4).toString('hex')
  const subjects = Array.from({ length: 12 }, (_, i) => `vigiltest.${run}.s${i}`)
  const streams = [{ name: `VIGILTEST_${run}`, subjects }]

  busContract('NatsBus', async () => {
    const opened: NatsBus[] = []
    return {
      open: async () => {
        const b = await NatsBus.connect({ servers: '127.0.0.1:4222', streams, duplicateWindowMs: 60_000 })
        opened.push(b)
        return b
      },
      subjects,
      ackWaitMs: 1000,
      cleanup: async () => {
        const admin = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
        await admin.deleteStreams()
        await admin.close()
        for (const b of opened) await b.close()
      },
    }
  })
} else {
  const { it } = await import('vitest')
  it.skip('NatsBus contract: NATS is not reachable on 127.0.0.1:4222', () => {})
}
