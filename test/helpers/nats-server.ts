/**
 * @module A private nats-server with JetStream (or without) on its own port and store directory, for tests that
 * kill it (never the machine's :4222, which other tests share). Restarting on the same directory
 * keeps the streams and durable consumers, as a real server restart does.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const NATS_SERVER = process.env.VIGIL_NATS_SERVER ?? '/usr/sbin/nats-server'

/** True when the nats-server binary runs here. */
export function haveNatsServer(): boolean {
  return spawnSync(NATS_SERVER, ['--version']).status === 0
}

export interface NatsServer {
  readonly port: number
  readonly url: string
  /** SIGKILLs the server (its store directory stays) */
  kill(): Promise<void>
  /** starts it again on the same port and store directory */
  restart(): Promise<void>
  /** kills it and removes its store directory */
  close(): Promise<void>
}

const reachable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port })
    s.once('connect', () => (s.destroy(), resolve(true)))
    s.once('error', () => (s.destroy(), resolve(false)))
  })

/** `jetstream: false` starts a plain NATS server, as one started without `-js`. */
export async function startNatsServer(port: number, opts: { jetstream?: boolean } = {}): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-nats-'))
  const js = opts.jetstream === false ? [] : ['-js', '-sd', dir]
  let child: ChildProcess | null = null
  let log = ''
  const start = async () => {
    log = ''
    const c = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port), ...js], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child = c
    c.stdout!.on('data', (d: Buffer) => (log += d.toString()))
    c.stderr!.on('data', (d: Buffer) => (log += d.toString()))
    const deadline = Date.now() + 15_000
    while (!(await reachable(port))) {
      if (c.exitCode !== null) throw new Error(`nats-server exited with ${c.exitCode}:\n${log}`)
      if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${port}:\n${log}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const kill = async () => {
    const c = child
    if (c === null || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise<void>((r) => c.once('exit', () => r()))
    c.kill('SIGKILL')
    await exited
  }
  await start()
  return {
    port,
    url: `127.0.0.1:${port}`,
    kill,
    restart: start,
    close: async () => {
      await kill()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
