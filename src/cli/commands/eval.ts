/** @module `vigil eval detect|forecast`: runs an evaluation suite, each loaded only when asked for. */
import { commandOfKinds, type Kind } from '../command.js'

// One line per suite; each module exports `suite` and is imported only when named.
const SUITES: Record<string, () => Promise<Kind>> = {
  detect: async () => (await import('../../eval/detect.js')).suite,
  forecast: async () => (await import('../../eval/forecast.js')).suite,
}

const usage = `usage: vigil eval SUITE [options]

Suites: ${Object.keys(SUITES).sort().join(', ')}. \`vigil eval SUITE --help\` shows a suite's options.`

export const command = commandOfKinds(
  'eval',
  'suite',
  SUITES,
  'run an evaluation suite (generated series, scores per model)',
  usage,
)
