/** The leader lease on real NATS JetStream KV, with a real store as the fence. */
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { serviceAvailable } from '../../test/helpers/services.js'
import { SqliteStore } from '../store/index.js'
import { logLeadership } from './leadership.js'
import { NatsLease } from './lease.js'

const up = await serviceAvailable('nats')

async function until(what: string, ok: () => boolean, timeoutMs = 10_000): Promise<number> {
  const t0 = Date.now()
  while (!ok()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
  return Date.now() - t0
}

describe.skipIf(!up)('NatsLease', { timeout: 30_000 }, () => {
  const leases: NatsLease[] = []
  const buckets: string[] = []
  let store: SqliteStore | null = null
  afterEach(async () => {
    for (const l of leases.splice(0)) await l.stop().catch(() => {})
    // the buckets expire by themselves; delete them to leave NATS as it was
    const { connect } = await import('@nats-io/transport-node')
    const { Kvm } = await import('@nats-io/kv')
    const nc = await connect({ servers: '127.0.0.1:4222' })
    const kvm = new Kvm(nc)
    for (const b of buckets.splice(0)) await (await kvm.open(b)).destroy().catch(() => {})
    await nc.close()
    await store?.close()
    store = null
  })

  /** What `vigil control` logs of its leadership, as `level message` lines. */
  const leadershipLines = () => {
    const lines: string[] = []
    const at = (level: string) => (_obj: object, msg: string) => void lines.push(`${level} ${msg}`)
    return { lines, logger: { info: at('info'), warn: at('warn') } }
  }

  const make = async (bucket: string, name: string, log: string[], logs = leadershipLines()) => {
    store ??= await SqliteStore.open({ path: ':memory:' })
    const s = store
    if (!buckets.includes(bucket)) buckets.push(bucket)
    const lease = await NatsLease.connect({
      servers: '127.0.0.1:4222',
      bucket,
      holder: name,
      ttlMs: 1_500,
      renewEveryMs: 250,
      fence: () => s.advanceFence(),
      onElected: async (token) => {
        log.push(`${name} elected ${token}`)
        logLeadership(logs.logger, true, lease.leadership.leader(), 'elected')
      },
      onDeposed: async (reason) => {
        log.push(`${name} deposed: ${reason}`)
        logLeadership(logs.logger, false, lease.leadership.leader(), reason)
      },
    })
    leases.push(lease)
    return lease
  }

  it('elects one leader, which a follower replaces within the ttl when it dies', async () => {
    const bucket = `VIGILTEST_LEASE_${randomBytes(4).toString('hex')}`
    const log: string[] = []
    const a = await make(bucket, 'a', log)
    const b = await make(bucket, 'b', log)
    a.start()
    await until('a leads', () => a.leadership.leading)
    b.start()
    const tokenA = a.leadership.token()
    await until('b sees a with its token', () => b.leadership.leader()?.fencingToken === tokenA)
    expect(b.leadership.leader()?.holder).toBe('a')
    expect(b.leadership.leading).toBe(false)
    expect(() => b.leadership.token()).toThrow(/does not lead: the leader is a/)

    await a.abandon() // a crash: no release
    const tookMs = await until('b leads', () => b.leadership.leading, 5_000)
    expect(tookMs).toBeLessThan(1_500 + 1_000)
    const tokenB = b.leadership.token()
    expect(tokenB).toBe(tokenA + 1)
    // a, had it only been paused, judges its own lease expired by now and refuses to act
    expect(a.leadership.leading).toBe(false)
    expect(() => a.leadership.token()).toThrow(/does not lead/)
    await b.settled()
    expect(log).toEqual([`a elected ${tokenA}`, `b elected ${tokenB}`])
  })

  it('names its admin API to itself as to followers when it is known only after the election', async () => {
    const bucket = `VIGILTEST_LEASE_${randomBytes(4).toString('hex')}`
    const a = await make(bucket, 'a', [])
    const b = await make(bucket, 'b', [])
    a.start()
    await until('a leads', () => a.leadership.leading)
    a.setAdminUrl('http://127.0.0.1:8082')
    expect(a.leadership.leader()).toMatchObject({ holder: 'a', adminUrl: 'http://127.0.0.1:8082' })
    expect(a.leadership.token()).toBeGreaterThan(0)
    b.start()
    await until(
      'b sees a with its admin URL',
      () => b.leadership.leader()?.adminUrl === 'http://127.0.0.1:8082',
    )
  })

  it('hands over at once on a graceful stop, deposing the leader first', async () => {
    const bucket = `VIGILTEST_LEASE_${randomBytes(4).toString('hex')}`
    const log: string[] = []
    const logsA = leadershipLines()
    const a = await make(bucket, 'a', log, logsA)
    const b = await make(bucket, 'b', log)
    a.start()
    await until('a leads', () => a.leadership.leading)
    b.start()
    await until('b follows', () => b.leadership.leader()?.holder === 'a')
    await a.stop()
    expect(log.at(-1)).toBe('a deposed: stopping')
    // a hand-over on purpose is no cause for alarm
    expect(logsA.lines).toEqual([
      'info leading: this control plane acts',
      'info following: this control plane stopped and gave up the leader lease',
    ])
    const tookMs = await until('b leads', () => b.leadership.leading, 3_000)
    expect(tookMs).toBeLessThan(1_000) // the next try, not the ttl
  })

  it('steps down when another process holds the lease (its renewal is refused), and warns', async () => {
    const bucket = `VIGILTEST_LEASE_${randomBytes(4).toString('hex')}`
    const log: string[] = []
    const logsA = leadershipLines()
    const a = await make(bucket, 'a', log, logsA)
    a.start()
    await until('a leads', () => a.leadership.leading)
    // someone else writes the key (as after a partition in which a's lease expired)
    const { connect } = await import('@nats-io/transport-node')
    const { Kvm } = await import('@nats-io/kv')
    const nc = await connect({ servers: '127.0.0.1:4222' })
    const kv = await new Kvm(nc).open(bucket)
    await kv.put('control', JSON.stringify({ holder: 'z', adminUrl: null, sinceMs: 0, fencingToken: 99 }))
    await until('a steps down', () => !a.leadership.leading, 3_000)
    await a.settled()
    expect(log.at(-1)).toBe('a deposed: another control plane holds the lease')
    expect(logsA.lines).toEqual([
      'info leading: this control plane acts',
      'warn lost the leader lease (another control plane holds the lease): this control plane stops acting; another instance or none is leader',
    ])
    await until('a sees z', () => a.leadership.leader()?.holder === 'z')
    await nc.close()
  })
})
