/**
 * @module A process actuator that is SIGKILLed with its replicas left running, as a `vigil start`
 * or a leading `vigil control` killed by the OOM killer would leave them. It runs in a process of
 * its own (the build in dist/, made by the test setup), so its death is a real one.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'

// prints the replicas once `orders` has `n`, then waits to be killed
const CRASHING = `
const { ProcessActuator } = await import(process.argv[1])
const [stateDir, server, n] = process.argv.slice(2)
const a = new ProcessActuator({
  stateDir,
  pool: { setTargets: async () => {} },
  services: { orders: { command: [process.execPath, '-e', server, '$PORT'], healthIntervalMs: 50 } },
})
await a.scaleTo('orders', Number(n), 'before the crash')
console.log(JSON.stringify(await a.replicas('orders')))
setInterval(() => {}, 1000)
`
const dist = join(import.meta.dirname, '../../dist/scale/actuators/process.js')

export interface LeftReplica {
  id: string
  url: string
}

/** Starts `n` replicas of `node -e server $PORT` for `orders`, recorded under `stateDir`, then SIGKILLs their actuator. */
export async function crashWithReplicas(server: string, stateDir: string, n: number): Promise<LeftReplica[]> {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', CRASHING, dist, stateDir, server, String(n)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let out = ''
  const line = await new Promise<string>((ok, fail) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      if (out.includes('\n')) ok(out.split('\n')[0])
    })
    child.once('exit', (code) => fail(new Error(`the crashing actuator exited with ${code}: ${out}`)))
  })
  const exited = new Promise((ok) => child.once('exit', ok))
  child.kill('SIGKILL')
  await exited
  return JSON.parse(line) as LeftReplica[]
}
