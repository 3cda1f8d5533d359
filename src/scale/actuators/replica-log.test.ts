import { appendFileSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { closeFd, openForAppend, ownReplicaLog, ReplicaLogTail, replicaLogPath } from './replica-log.js'

describe('ReplicaLogTail', () => {
  const dirs: string[] = []
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'vigil-replica-log-'))
    dirs.push(d)
    return d
  }
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  it('passes complete lines on as they are appended, a split character whole, the last partial line at stop', async () => {
    const path = replicaLogPath(tmp(), 'orders/v2', 'ab12')
    expect(path).toMatch(/logs\/orders_v2-ab12\.log$/)
    closeFd(openForAppend(path))
    const lines: string[] = []
    const tail = new ReplicaLogTail(path, (l) => lines.push(l))
    appendFileSync(path, 'one\ntw')
    await tail.read()
    expect(lines).toEqual(['one'])
    const euro = Buffer.from('€')
    appendFileSync(path, Buffer.concat([Buffer.from('o\n\nthree '), euro.subarray(0, 1)]))
    await tail.read()
    appendFileSync(path, Buffer.concat([euro.subarray(1), Buffer.from('\nlast words')]))
    await tail.stop()
    expect(lines).toEqual(['one', 'two', 'three €', 'last words'])
    expect(tail.recent()).toMatch(/three €\nlast words$/)
    expect(existsSync(path)).toBe(false)
  })

  it('truncates the file once read past 1 MiB, and reads on from its start', async () => {
    const path = replicaLogPath(tmp(), 'orders', 'cd34')
    closeFd(openForAppend(path))
    let count = 0
    const tail = new ReplicaLogTail(path, () => count++)
    const line = `${'x'.repeat(1023)}\n`
    appendFileSync(path, line.repeat(1100))
    await tail.read()
    expect(count).toBe(1100)
    expect(statSync(path).size).toBe(0)
    appendFileSync(path, 'after\n')
    const seen: string[] = []
    const again = new ReplicaLogTail(path, (l) => seen.push(l))
    await again.read()
    await tail.read()
    expect(count).toBe(1101)
    expect(seen).toEqual(['after'])
    await again.stop()
    await tail.stop()
  })

  it("replays only the last 64 KiB of an adopted replica's file", async () => {
    const path = replicaLogPath(tmp(), 'orders', 'ef56')
    closeFd(openForAppend(path))
    writeFileSync(path, Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n') + '\n')
    const lines: string[] = []
    const tail = new ReplicaLogTail(path, (l) => lines.push(l), { replay: true })
    await tail.read()
    expect(lines.at(-1)).toBe('line 19999')
    // whole lines only: the first is not the end of one cut in the middle
    expect(Number(lines[0].slice(5)) + lines.length).toBe(20_000)
    expect(lines.length).toBeGreaterThan(5_000)
    expect(lines.length).toBeLessThan(10_000)
    await tail.stop()
  })

  it('trusts a recorded path only inside its own folder', () => {
    const dir = tmp()
    expect(ownReplicaLog(dir, join(dir, 'logs', 'orders-1.log'))).toBe(join(dir, 'logs', 'orders-1.log'))
    expect(ownReplicaLog(dir, '/etc/passwd')).toBeNull()
    expect(ownReplicaLog(dir, join(dir, 'logs', '..', '..', 'x.log'))).toBeNull()
    expect(ownReplicaLog(dir, undefined)).toBeNull()
  })
})
