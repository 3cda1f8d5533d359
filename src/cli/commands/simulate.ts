/** @module `vigil simulate KIND`: offline what-if runs without a live system, each loaded only when named. */
import { commandOfKinds, type Kind } from '../command.js'

// One line per simulation; each module exports `command` and is imported only when named.
const KINDS: Record<string, () => Promise<Kind>> = {
  alerts: async () => (await import('./simulate-alerts.js')).command,
  autoscale: async () => (await import('./simulate-autoscale.js')).command,
  policy: async () => (await import('./simulate-policy.js')).command,
}

const usage = `usage: vigil simulate KIND [options]

Kinds: ${Object.keys(KINDS).sort().join(', ')}. \`vigil simulate KIND --help\` shows its options.`

export const command = commandOfKinds(
  'simulate',
  'kind',
  KINDS,
  'offline what-if runs: alert rules and adaptive-limit policies on stored history, autoscaling on a series',
  usage,
)
