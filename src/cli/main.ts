/** @module The `vigil` command line: a table of sub-commands, each loaded only when called. */
import { isVigilError } from '../errors.js'
import type { Command } from './command.js'

type Loader = () => Promise<{ command: Command }>

// Loaded lazily so `vigil detect` never pays for the gateway, databases or TensorFlow.
const COMMANDS: Record<string, Loader> = {
  'check-config': () => import('./commands/check-config.js'),
  start: () => import('./commands/start.js'),
  gateway: () => import('./commands/gateway.js'),
  control: () => import('./commands/control.js'),
  detect: () => import('./commands/detect.js'),
  mock: () => import('./commands/mock.js'),
  load: () => import('./commands/load.js'),
  demo: () => import('./commands/demo.js'),
  forecast: () => import('./commands/forecast.js'),
  simulate: () => import('./commands/simulate.js'),
  eval: () => import('./commands/eval.js'),
}

function help(): string {
  const names = Object.keys(COMMANDS).sort()
  return `usage: vigil <command> [options]\n\ncommands: ${names.join(', ')}\n\nvigil help <command> shows one command's options.\n`
}

/** Runs the CLI with `argv` (without node and script) and resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const target = rest[0]
    if (target !== undefined && COMMANDS[target] !== undefined) {
      const { command } = await COMMANDS[target]()
      process.stdout.write(`${command.usage}\n`)
      return 0
    }
    process.stdout.write(help())
    return name === undefined ? 2 : 0
  }
  const load = COMMANDS[name]
  if (load === undefined) {
    process.stderr.write(`vigil: unknown command "${name}"\n\n${help()}`)
    return 2
  }
  try {
    const { command } = await load()
    return await command.run(rest)
  } catch (err) {
    if (isVigilError(err)) {
      process.stderr.write(`${err.message}\n`)
      return err.code === 'VGL_ERR_CLI_USAGE' ? 2 : 1
    }
    throw err
  }
}
