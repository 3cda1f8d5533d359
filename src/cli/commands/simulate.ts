/** @module `vigil simulate KIND`: offline what-if runs without a live system, each loaded only when named. */
import { VGL_ERR_CLI_USAGE } from '../../errors.js'
import type { Command } from '../command.js'

// One line per simulation; each module exports `command` and is imported only when named.
const KINDS: Record<string, () => Promise<{ command: Command }>> = {
  alerts: () => import('./simulate-alerts.js'),
  autoscale: () => import('./simulate-autoscale.js'),
  policy: () => import('./simulate-policy.js'),
}

const usage = `usage: vigil simulate KIND [options]

Kinds: ${Object.keys(KINDS).sort().join(', ')}. \`vigil simulate KIND --help\` shows its options.`

export const command: Command = {
  summary:
    'offline what-if runs: alert rules and adaptive-limit policies on stored history, autoscaling on a series',
  usage,
  async run(argv) {
    const [name, ...rest] = argv
    const load = name === undefined ? undefined : KINDS[name]
    if (load === undefined)
      throw VGL_ERR_CLI_USAGE(`simulate: unknown or missing kind "${name ?? ''}"\n\n${usage}`)
    const { command: kind } = await load()
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${kind.usage}\n`)
      return 0
    }
    return kind.run(rest)
  },
}
