/** @module `vigil eval detect|forecast`: runs an evaluation suite, each loaded only when asked for. */
import { VGL_ERR_CLI_USAGE } from '../../errors.js'
import type { Command } from '../command.js'

type Suite = { run(argv: string[]): Promise<number>; usage: string }

// One line per suite; each module exports `suite` and is imported only when named.
const SUITES: Record<string, () => Promise<{ suite: Suite }>> = {
  detect: () => import('../../eval/detect.js'),
  forecast: () => import('../../eval/forecast.js'),
}

const usage = `usage: vigil eval SUITE [options]

Suites: ${Object.keys(SUITES).sort().join(', ')}. \`vigil eval SUITE --help\` shows a suite's options.`

export const command: Command = {
  summary: 'run an evaluation suite (generated series, scores per model)',
  usage,
  async run(argv) {
    const [name, ...rest] = argv
    const load = name === undefined ? undefined : SUITES[name]
    if (load === undefined)
      throw VGL_ERR_CLI_USAGE(`eval: unknown or missing suite "${name ?? ''}"\n\n${usage}`)
    const { suite } = await load()
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(`${suite.usage}\n`)
      return 0
    }
    return suite.run(rest)
  },
}
