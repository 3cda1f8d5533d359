import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { crashWithReplicas } from '../../../test/helpers/crashed-actuator.js'
import { actuatorContract } from '../actuator.contract.js'
import { ProcessActuator } from './process.js'
import { commandMatches, procStartOf, recordedProcessGone } from './process-state.js'

// A replica: an HTTP server on $PORT whose /health answers HEALTH (default 200).
const SERVER = `
const http = require('node:http')
const status = Number(process.env.HEALTH ?? 200)
const srv = http.createServer((req, res) => { res.statusCode = req.url === '/health' ? status : 200; res.end(process.env.PORT) })
srv.listen(Number(process.argv[1]), '127.0.0.1')
process.on('SIGTERM', () => srv.close(() => process.exit(0)))
`

function recordingPool() {
  const calls: { service: string; urls: string[] | null }[] = []
  return {
    calls,
    setTargets: async (service: string, urls: readonly string[] | null) =>
      void calls.push({ service, urls: urls === null ? null : [...urls] }),
  }
}

const answers = async (url: string) => {
  try {
    return (await fetch(`${url}/x`)).ok
  } catch {
    return false
  }
}

actuatorContract('process', async ({ broken }) => {
  const actuator = new ProcessActuator({
    pool: recordingPool(),
    services: {
      orders: {
        command: broken ? ['/nonexistent/vigil-replica'] : [process.execPath, '-e', SERVER, '$PORT'],
        healthIntervalMs: 50,
        stopGraceMs: 2_000,
      },
    },
  })
  return { actuator, service: 'orders', close: () => actuator.close() }
})

describe('ProcessActuator', () => {
  it('adds a replica to the pool only once healthy, and removes it before stopping it', async () => {
    const pool = recordingPool()
    const a = new ProcessActuator({
      pool,
      services: { orders: { command: [process.execPath, '-e', SERVER, '${PORT}'], healthIntervalMs: 50 } },
    })
    try {
      await a.scaleTo('orders', 2, 'test')
      expect(pool.calls).toHaveLength(1)
      const urls = pool.calls[0].urls!
      expect(urls).toHaveLength(2)
      for (const u of urls) expect(await (await fetch(`${u}/x`)).text()).toBe(new URL(u).port)
      await a.scaleTo('orders', 1, 'test')
      expect(pool.calls[1].urls).toEqual([urls[0]])
      // the removed replica is stopped
      await expect(fetch(`${urls[1]}/x`)).rejects.toThrow()
    } finally {
      await a.close()
    }
  }, 30_000)

  it('close gives the service back its configured targets, and stops the replicas only once that drained', async () => {
    let release = () => {}
    const seen: { urls: string[] | null; upWhileDraining: boolean[] }[] = []
    let replicas: string[] = []
    const a = new ProcessActuator({
      pool: {
        setTargets: async (_service, urls) => {
          if (urls !== null) return void (replicas = [...urls])
          // the gateways still send to the replicas until their requests finished
          seen.push({ urls, upWhileDraining: await Promise.all(replicas.map(answers)) })
          await new Promise<void>((ok) => (release = ok))
        },
      },
      services: {
        orders: { command: [process.execPath, '-e', SERVER, '$PORT'], healthIntervalMs: 50 },
        idle: { command: [process.execPath, '-e', SERVER, '$PORT'], healthIntervalMs: 50 },
      },
    })
    await a.scaleTo('orders', 2, 'test')
    expect(replicas).toHaveLength(2)
    let closed = false
    const closing = a.close().then(() => (closed = true))
    await new Promise((ok) => setTimeout(ok, 300))
    // only the service with replicas is handed back, and nothing is stopped yet
    expect(seen).toEqual([{ urls: null, upWhileDraining: [true, true] }])
    expect(closed).toBe(false)
    expect(await Promise.all(replicas.map(answers))).toEqual([true, true])
    release()
    await closing
    expect(await Promise.all(replicas.map(answers))).toEqual([false, false])
    expect(await a.current('orders')).toBe(0)
  }, 30_000)

  it("passes on a replica's stdout and stderr lines without a state folder (pipes)", async () => {
    const lines: string[] = []
    const a = new ProcessActuator({
      pool: recordingPool(),
      services: {
        orders: {
          command: [
            process.execPath,
            '-e',
            `console.log('ready on stdout'); console.error('and stderr');${SERVER}`,
            '$PORT',
          ],
          healthIntervalMs: 20,
        },
      },
      onOutput: (_s, _id, line) => lines.push(line),
    })
    try {
      await a.scaleTo('orders', 1, 'test')
      await until('both lines', () => lines.length >= 2)
      expect([...lines].sort()).toEqual(['and stderr', 'ready on stdout'])
    } finally {
      await a.close()
    }
  }, 30_000)

  it('close stops the replicas even when the pool cannot take them out, and says why', async () => {
    const lines: string[] = []
    let replicas: string[] = []
    const a = new ProcessActuator({
      pool: {
        setTargets: async (_service, urls) => {
          if (urls === null) throw new Error('the bus is closed')
          replicas = [...urls]
        },
      },
      services: { orders: { command: [process.execPath, '-e', SERVER, '$PORT'], healthIntervalMs: 50 } },
      onOutput: (service, _id, line) => lines.push(`${service}: ${line}`),
    })
    await a.scaleTo('orders', 1, 'test')
    await a.close()
    expect(await answers(replicas[0])).toBe(false)
    expect(lines).toContain('orders: configured targets not restored: the bus is closed')
  }, 30_000)

  it('rolls back a replica that never becomes healthy: stopped, never pooled', async () => {
    const pool = recordingPool()
    const a = new ProcessActuator({
      pool,
      services: {
        orders: {
          command: [process.execPath, '-e', SERVER, '$PORT'],
          env: { HEALTH: '503' },
          startTimeoutMs: 600,
          healthIntervalMs: 50,
        },
      },
    })
    try {
      const err = await a.scaleTo('orders', 1, 'test').catch((e: { code: string; message: string }) => e)
      expect((err as { code: string }).code).toBe('VGL_ERR_SCALE_UNHEALTHY')
      expect((err as { message: string }).message).toMatch(
        /did not become healthy within 600 ms .*never answered 2xx/,
      )
      expect(pool.calls).toHaveLength(0)
      expect(await a.current('orders')).toBe(0)
    } finally {
      await a.close()
    }
  }, 30_000)

  it('names a command that exits before it is healthy', async () => {
    const a = new ProcessActuator({
      pool: recordingPool(),
      services: {
        orders: { command: [process.execPath, '-e', 'console.error("boom: no config"); process.exit(3)'] },
      },
    })
    const err = (await a.scaleTo('orders', 1, 'test').catch((e: unknown) => e)) as {
      code: string
      message: string
    }
    expect(err.code).toBe('VGL_ERR_SCALE_ACTUATOR')
    expect(err.message).toMatch(/exited with 3 before it was healthy: boom: no config/)
    await a.close()
  }, 30_000)
})

const pidIn = (id: string) => Number(id.split('-').at(-2))
const alive = (pid: number) => procStartOf(pid) !== null
const stateFiles = (dir: string) => {
  try {
    return readdirSync(join(dir, 'process-replicas')).filter((f) => f.endsWith('.json'))
  } catch {
    return []
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe.skipIf(procStartOf(process.pid) === null)(
  'ProcessActuator: replicas left by a killed actuator',
  () => {
    const dirs: string[] = []
    const strays: number[] = []
    const tmp = () => {
      const d = mkdtempSync(join(tmpdir(), 'vigil-adopt-'))
      dirs.push(d)
      return d
    }
    afterEach(() => {
      // whatever a failed test left behind
      for (const pid of strays.splice(0))
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // gone
        }
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
    })
    const orders = (extra: object = {}) => ({
      orders: {
        command: [process.execPath, '-e', SERVER, '$PORT'],
        healthIntervalMs: 50,
        stopGraceMs: 2_000,
        ...extra,
      },
    })

    it('adopts the healthy ones: the same processes, counted and pooled, none started; they stop as its own', async () => {
      const dir = tmp()
      const left = await crashWithReplicas(SERVER, dir, 2)
      strays.push(...left.map((r) => pidIn(r.id)))
      expect(left).toHaveLength(2)
      // the killed actuator stopped nothing
      for (const r of left) expect(await answers(r.url)).toBe(true)
      expect(stateFiles(dir)).toHaveLength(1)

      const pool = recordingPool()
      const lines: string[] = []
      const a = new ProcessActuator({
        pool,
        stateDir: dir,
        services: orders(),
        onOutput: (_s, _id, line) => lines.push(line),
      })
      try {
        const r = await a.adopt('orders', true)
        expect(r.adopted.map((x) => x.id).sort()).toEqual(left.map((x) => x.id).sort())
        expect(r).toMatchObject({ before: 0, after: 2, stopped: [] })
        expect(await a.current('orders')).toBe(2)
        expect((await a.replicas('orders')).map((x) => x.id).sort()).toEqual(left.map((x) => x.id).sort())
        expect(pool.calls).toEqual([
          { service: 'orders', urls: expect.arrayContaining(left.map((x) => x.url)) },
        ])
        for (const x of left)
          expect(lines).toContain(
            `adopted replica pid ${pidIn(x.id)} on port ${new URL(x.url).port}, left running by a control plane that ended without stopping it`,
          )
        // the dead actuator's file is gone; this one's holds both
        const files = stateFiles(dir)
        expect(files).toHaveLength(1)
        expect(files[0]).toMatch(new RegExp(`^${process.pid}-`))
        // another actuator on the host (a standby) leaves a live owner's replicas alone
        const other = new ProcessActuator({ pool: recordingPool(), stateDir: dir, services: orders() })
        expect(await other.adopt('orders', true)).toMatchObject({ adopted: [], stopped: [] })
        await other.close()
        for (const r of left) expect(await answers(r.url)).toBe(true)
        // nothing more to adopt; scaling to the count starts nothing
        expect((await a.adopt('orders', true)).adopted).toEqual([])
        expect(await a.scaleTo('orders', 2, 'same')).toMatchObject({ started: [], stopped: [] })
        // an adopted replica is stopped like one started here (SIGTERM), and one that dies on its own leaves the pool
        await a.scaleTo('orders', 1, 'down')
        expect((await a.replicas('orders')).map((x) => x.id)).toHaveLength(1)
        const [kept] = await a.replicas('orders')
        const gone = left.find((x) => x.id !== kept.id)!
        expect(alive(pidIn(gone.id))).toBe(false)
        process.kill(pidIn(kept.id), 'SIGKILL')
        await until('the dead adopted replica out of the pool', () => pool.calls.at(-1)?.urls?.length === 0)
        expect(await a.current('orders')).toBe(0)
      } finally {
        await a.close()
      }
      expect(stateFiles(dir)).toEqual([])
    }, 60_000)

    it('stops instead of adopting: shadow mode, another command, a hung replica', async () => {
      for (const [how, keep, services, reason] of [
        ['shadow', false, orders(), /not scaled in enforce mode/],
        [
          'command',
          true,
          orders({ command: [process.execPath, '-e', `${SERVER}\n// v2`, '$PORT'] }),
          /another command/,
        ],
        ['health', true, orders({ startTimeoutMs: 500 }), /did not answer 2xx/],
      ] as const) {
        const dir = tmp()
        const left = await crashWithReplicas(SERVER, dir, 1)
        strays.push(pidIn(left[0].id))
        // hung: it answers nothing, SIGTERM included (SIGKILL after stopGraceMs ends it)
        if (how === 'health') process.kill(pidIn(left[0].id), 'SIGSTOP')
        const pool = recordingPool()
        const a = new ProcessActuator({ pool, stateDir: dir, services })
        try {
          const r = await a.adopt('orders', keep)
          expect(r.adopted, how).toEqual([])
          expect(r.stopped, how).toEqual([{ id: left[0].id, reason: expect.stringMatching(reason) }])
          expect(alive(pidIn(left[0].id)), how).toBe(false)
          expect(await a.current('orders'), how).toBe(0)
          // nothing was pooled; the gateways got their configured targets back
          expect(pool.calls, how).toEqual([{ service: 'orders', urls: null }])
        } finally {
          await a.close()
        }
        expect(stateFiles(dir), how).toEqual([])
      }
    }, 90_000)

    it('never signals a recorded pid that now runs another process, and drops the record', async () => {
      const dir = tmp()
      const left = await crashWithReplicas(SERVER, dir, 1)
      strays.push(pidIn(left[0].id))
      // the recorded replica's pid now belongs to `sleep 100`: rewrite the record as if the pid was reused
      const sleeper = spawn('sleep', ['100'], { stdio: 'ignore' })
      strays.push(sleeper.pid!)
      const [file] = stateFiles(dir)
      const path = join(dir, 'process-replicas', file)
      const state = JSON.parse(readFileSync(path, 'utf8')) as {
        replicas: { pid: number; procStart: string }[]
      }
      state.replicas[0].pid = sleeper.pid!
      writeFileSync(path, JSON.stringify(state))
      // and one whose start time matches the sleeper's but whose command does not
      state.replicas.push({ ...state.replicas[0], procStart: procStartOf(sleeper.pid!)! })
      writeFileSync(path, JSON.stringify(state))

      const a = new ProcessActuator({ pool: recordingPool(), stateDir: dir, services: orders() })
      try {
        const r = await a.adopt('orders', true)
        expect(r).toMatchObject({ adopted: [], stopped: [] })
        expect(alive(sleeper.pid!)).toBe(true)
        expect(stateFiles(dir)).toEqual([])
      } finally {
        await a.close()
        sleeper.kill('SIGKILL')
      }
    }, 60_000)

    it('adopts a replica that writes to stdout and stderr: it outlives its killed actuator, and its output is read on', async () => {
      const dir = tmp()
      // a pipe to the dead actuator would end it (EPIPE) at its next line; odd ticks on stdout
      const logging = `${SERVER}\nlet n = 0\nsetInterval(() => (n % 2 ? console.log : console.error)('tick ' + n++), 50)`
      const left = await crashWithReplicas(logging, dir, 1)
      const pid = pidIn(left[0].id)
      strays.push(pid)
      await new Promise((r) => setTimeout(r, 600))
      expect(alive(pid)).toBe(true)
      const lines: string[] = []
      const a = new ProcessActuator({
        pool: recordingPool(),
        stateDir: dir,
        services: orders({ command: [process.execPath, '-e', logging, '$PORT'] }),
        onOutput: (_s, id, line) => lines.push(`${id} ${line}`),
      })
      try {
        expect((await a.adopt('orders', true)).adopted.map((r) => r.id)).toEqual([left[0].id])
        const ticks = () => lines.filter((l) => l.startsWith(`${left[0].id} tick `)).length
        // what it wrote while nobody read, then what it writes now
        await until('its output read on', () => ticks() >= 30)
        expect(lines).toContain(`${left[0].id} tick 5`)
        expect(lines).toContain(`${left[0].id} tick 6`)
        expect(await answers(left[0].url)).toBe(true)
      } finally {
        await a.close()
      }
      expect(alive(pid)).toBe(false)
      expect(readdirSync(join(dir, 'process-replicas', 'logs'))).toEqual([])
    }, 60_000)

    it("reads a started replica's stdout and stderr from its file in the order written, and names its last line when it exits before it is healthy", async () => {
      const dir = tmp()
      const lines: string[] = []
      const a = new ProcessActuator({
        pool: recordingPool(),
        stateDir: dir,
        services: {
          orders: {
            command: [
              process.execPath,
              '-e',
              'console.log("loading"); console.error("warning: slow disk"); console.log("boom: no config"); process.exit(3)',
            ],
          },
        },
        onOutput: (_s, _id, line) => lines.push(line),
      })
      const err = (await a.scaleTo('orders', 1, 'test').catch((e: unknown) => e)) as { message: string }
      expect(err.message).toMatch(/exited with 3 before it was healthy: boom: no config/)
      expect(lines).toEqual(['loading', 'warning: slow disk', 'boom: no config'])
      await a.close()
      expect(readdirSync(join(dir, 'process-replicas', 'logs'))).toEqual([])
    }, 30_000)

    it('logs what a replica wrote until it was healthy before it joins the pool', async () => {
      const lines: string[] = []
      let linesWhenPooled: string[] = []
      const a = new ProcessActuator({
        pool: { setTargets: async () => void (linesWhenPooled = [...lines]) },
        stateDir: tmp(),
        services: {
          orders: {
            command: [process.execPath, '-e', `console.error('warming up');${SERVER}`, '$PORT'],
            healthIntervalMs: 20,
          },
        },
        onOutput: (_s, _id, line) => lines.push(line),
      })
      try {
        await a.scaleTo('orders', 1, 'test')
        expect(linesWhenPooled).toEqual(['warming up'])
      } finally {
        await a.close()
      }
    }, 30_000)

    it('warns about a corrupt state file once, leaves it alone, and goes on', async () => {
      const dir = tmp()
      mkdirSync(join(dir, 'process-replicas'))
      writeFileSync(join(dir, 'process-replicas', '1234-abcd.json'), '{"version":1,"owner":')
      writeFileSync(join(dir, 'process-replicas', '1235-abcd.json'), '{"version":7}')
      const warnings: string[] = []
      const a = new ProcessActuator({
        pool: recordingPool(),
        stateDir: dir,
        services: orders(),
        onWarn: (m) => warnings.push(m),
      })
      try {
        expect(await a.adopt('orders', true)).toMatchObject({ adopted: [], stopped: [] })
        await a.adopt('orders', true)
        expect(warnings).toHaveLength(2)
        expect(warnings[0]).toMatch(
          /replica state file .*1234-abcd\.json is unreadable \(.*JSON.*\).*delete the file once they are stopped by hand/,
        )
        expect(warnings[1]).toMatch(/1235-abcd\.json is not one this version reads \(version 7, expected 1\)/)
        await a.scaleTo('orders', 1, 'still works')
        expect(stateFiles(dir)).toHaveLength(3)
      } finally {
        await a.close()
      }
      expect(stateFiles(dir).sort()).toEqual(['1234-abcd.json', '1235-abcd.json'])
    }, 30_000)
  },
)

describe('commandMatches', () => {
  it('takes the same argv, or the same arguments after a #! interpreter', () => {
    expect(commandMatches(['node', '-e', 'x', '4000'], ['node', '-e', 'x', '4000'])).toBe(true)
    expect(
      commandMatches(
        ['node', '/usr/local/bin/vigil', 'mock', '--port', '4000'],
        ['vigil', 'mock', '--port', '4000'],
      ),
    ).toBe(true)
    expect(commandMatches(['node', '-e', 'x', '4001'], ['node', '-e', 'x', '4000'])).toBe(false)
    expect(commandMatches(['sleep', '100'], ['vigil', 'mock', '--port', '4000'])).toBe(false)
    expect(commandMatches(['python', 'mock', '--port', '4000'], ['vigil', 'mock', '--port', '4000'])).toBe(
      false,
    )
  })
})

describe.skipIf(procStartOf(process.pid) === null)('recordedProcessGone', () => {
  it('is false while the recorded process runs, true once it exited or the pid is another process or command', async () => {
    const child = spawn('sleep', ['100'], { stdio: 'ignore' })
    const rec = { pid: child.pid!, procStart: procStartOf(child.pid!)!, command: ['sleep', '100'] }
    try {
      expect(recordedProcessGone(rec)).toBe(false)
      expect(recordedProcessGone({ ...rec, procStart: `${rec.procStart}0` })).toBe(true)
      expect(recordedProcessGone({ ...rec, command: ['sleep', '200'] })).toBe(true)
    } finally {
      child.kill('SIGKILL')
    }
    await new Promise((done) => child.once('exit', done))
    expect(recordedProcessGone(rec)).toBe(true)
  })
})
