/** @module `vigil gateway --config FILE`: the data plane alone (scaled-out mode). */
import { parseConfigFlag } from '../args.js'
import type { Command } from '../command.js'
import { startVigil } from '../runtime.js'

const usage = `usage: vigil gateway [--config vigil.yaml]

Runs the gateway data plane (with its admin API) for scaled-out deployments, where the control
plane runs separately. SIGHUP reloads the config; SIGTERM drains and exits 0.`

export const command: Command = {
  summary: 'run the gateway data plane only (scaled-out mode)',
  usage,
  async run(argv) {
    const configFile = parseConfigFlag(argv, usage)
    await startVigil({ configFile: configFile, mode: 'gateway', handleSignals: true })
    return new Promise<number>(() => {})
  },
}
