import { MessageChannel, Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { busContract } from './bus.contract.js'
import { MemoryBus } from './memory.js'

const subjects = Array.from({ length: 12 }, (_, i) => `test.s${i}`)

busContract('MemoryBus', async () => {
  const bus = new MemoryBus()
  return {
    // one shared bus; "another process" is a second handle on it that closes separately
    open: async () => {
      let closed = false
      return {
        kind: 'memory' as const,
        publish: (s, d, o) =>
          closed
            ? Promise.reject(Object.assign(new Error('closed'), { code: 'VGL_ERR_BUS_CLOSED' }))
            : bus.publish(s, d, o),
        subscribe: (s, h, o) => bus.subscribe(s, h, o),
        close: async () => void (closed = true),
      }
    },
    subjects,
    ackWaitMs: 500,
    cleanup: () => bus.close(),
  }
})

busContract('MemoryBus over a MessagePort', async () => {
  const bus = new MemoryBus()
  const stops: Array<() => void> = []
  return {
    open: async () => {
      const { port1, port2 } = new MessageChannel()
      stops.push(bus.serve(port1))
      return MemoryBus.overPort(port2)
    },
    subjects,
    ackWaitMs: 500,
    cleanup: async () => {
      for (const s of stops) s()
      await bus.close()
    },
  }
})

describe('MemoryBus', () => {
  it('rejects publish after close with VGL_ERR_BUS_CLOSED', async () => {
    const bus = new MemoryBus()
    await bus.close()
    await expect(bus.publish('x', new Uint8Array(1))).rejects.toMatchObject({ code: 'VGL_ERR_BUS_CLOSED' })
  })

  it('bounds the backlog of a subject nobody consumes yet, keeping the newest', async () => {
    const bus = new MemoryBus({ maxBacklog: 3 })
    for (let i = 0; i < 5; i++) await bus.publish('t', new Uint8Array([i]))
    expect(bus.depth('t', 'none')).toBe(3)
    const got: number[] = []
    await bus.subscribe('t', (m) => (got.push(m.data[0]!), m.ack()), { durable: 'd' })
    await new Promise((r) => setTimeout(r, 50))
    expect(got).toEqual([2, 3, 4])
    await bus.close()
  })

  it('caps the bytes queued behind a stalled consumer, dropping the oldest and counting them', async () => {
    const bus = new MemoryBus({ maxQueueBytes: 1000 })
    for (let i = 0; i < 5; i++) await bus.publish('t', new Uint8Array(300).fill(i)) // backlog: no consumer yet
    expect(bus.depth('t', 'd')).toBe(3)
    expect(bus.dropped()).toBe(2)
    const got: number[] = []
    const sub = await bus.subscribe('t', (m) => void got.push(m.data[0]!), { durable: 'd', maxInFlight: 1 }) // never acks
    await new Promise((r) => setTimeout(r, 50)) // message 2 goes in flight
    for (let i = 5; i < 10; i++) await bus.publish('t', new Uint8Array(300).fill(i))
    await new Promise((r) => setTimeout(r, 50))
    expect(got).toEqual([2]) // in flight, not counted against the cap
    expect(bus.depth('t', 'd')).toBe(1 + 3)
    expect(bus.dropped()).toBe(2 + 4) // 5 fits beside 3 and 4; 6, 7, 8, 9 each push the oldest out
    await sub.close()
    await bus.close()
  })

  it('redelivers after the ack wait expires', async () => {
    const bus = new MemoryBus()
    const counts: number[] = []
    await bus.subscribe(
      't',
      (m) => {
        counts.push(m.deliveryCount)
        if (m.deliveryCount > 1) m.ack()
      },
      { durable: 'd', ackWaitMs: 100 },
    )
    await bus.publish('t', new Uint8Array([1]))
    const until = Date.now() + 10_000
    while (counts.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    expect(counts.slice(0, 2)).toEqual([1, 2])
    await bus.close()
  })

  it('serves a real worker thread over a MessagePort', async () => {
    const bus = new MemoryBus()
    const { port1, port2 } = new MessageChannel()
    bus.serve(port1)
    // the worker subscribes through MemoryBus.overPort and acks what it gets, echoing it back
    const src = `
      const { workerData, parentPort } = require('node:worker_threads')
      const port = workerData.port
      let id = 0
      port.on('message', (ev) => {
        if (ev.t !== 'msg') return
        parentPort.postMessage(Buffer.from(ev.data).toString())
        port.postMessage({ t: 'ack', token: ev.token })
      })
      port.postMessage({ t: 'sub', id: ++id, subject: 'vigil.rollups', durable: 'control' })
    `
    const worker = new Worker(src, { eval: true, workerData: { port: port2 }, transferList: [port2] })
    const got: string[] = []
    worker.on('message', (m: string) => got.push(m))
    await bus.publish('vigil.rollups', new TextEncoder().encode('r1'))
    const until = Date.now() + 20_000
    while (got.length < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    expect(got).toEqual(['r1'])
    await new Promise((r) => setTimeout(r, 100))
    expect(bus.depth('vigil.rollups', 'control')).toBe(0)
    await worker.terminate()
    await bus.close()
  })
})
