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

/** The command list with each one's summary: loads every command, which only help can afford. */
async function help(): Promise<string> {
  const names = Object.keys(COMMANDS).sort()
  const width = Math.max(...names.map((n) => n.length)) + 2
  const lines = await Promise.all(
    names.map(async (n) => `  ${n.padEnd(width)}${(await COMMANDS[n]()).command.summary}`),
  )
  return `usage: vigil <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nvigil help <command> or vigil <command> --help shows one command's options; vigil --version (-V) prints the version.\n`
}

const HELP_FLAGS = new Set(['--help', '-h'])

/**
 * Errors that name a flag and its bad value: exit 2, as usage errors do. The simulation library
 * raises these (it also serves tests and the demo), so they are not VGL_ERR_CLI_USAGE.
 */
const BAD_FLAG_VALUE = new Set([
  'VGL_ERR_CLI_USAGE',
  'VGL_ERR_SIM_TARGET',
  'VGL_ERR_SIM_PATTERN',
  'VGL_ERR_SIM_LATENCY_RANGE',
])

/** Whether `--help` or `-h` comes before any `--` (after it, arguments are positionals). */
function asksForHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false
    if (HELP_FLAGS.has(a)) return true
  }
  return false
}

/** The command's usage for these arguments (a command of kinds answers the named kind's). */
async function usageOf(command: Command, argv: string[]): Promise<string> {
  const rest = argv.filter((a) => !HELP_FLAGS.has(a))
  return command.helpFor === undefined ? command.usage : command.helpFor(rest)
}

/** Runs the CLI with `argv` (without node and script) and resolves to the exit code. */
export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === '--version' || name === '-V') {
    const { VERSION } = await import('../version.js')
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  if (name === undefined || name === 'help' || HELP_FLAGS.has(name)) {
    const target = rest[0]
    if (target === undefined) {
      process.stdout.write(await help())
      return name === undefined ? 2 : 0
    }
    if (COMMANDS[target] === undefined) {
      process.stderr.write(`vigil: unknown command "${target}"\n\n${await help()}`)
      return 2
    }
    const { command } = await COMMANDS[target]()
    process.stdout.write(`${await usageOf(command, rest.slice(1))}\n`)
    return 0
  }
  const load = COMMANDS[name]
  if (load === undefined) {
    process.stderr.write(`vigil: unknown command "${name}"\n\n${await help()}`)
    return 2
  }
  try {
    const { command } = await load()
    // every command answers --help with its usage on stdout, before its flags are parsed
    if (asksForHelp(rest)) {
      process.stdout.write(`${await usageOf(command, rest)}\n`)
      return 0
    }
    return await command.run(rest)
  } catch (err) {
    if (isVigilError(err)) {
      process.stderr.write(`${err.message}\n`)
      return BAD_FLAG_VALUE.has(err.code) ? 2 : 1
    }
    throw err
  }
}
