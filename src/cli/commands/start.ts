/** @module `vigil start --config FILE`: embedded mode (gateway, admin API and the control plane in one process). */
import { parseConfigFlag } from '../args.js'
import type { Command } from '../command.js'
import { startVigil } from '../runtime.js'

const usage = `usage: vigil start [--config vigil.yaml]

Runs Vigil in one process: the gateway and the admin API on the main thread, the control plane
(store, detection, forecasting) in a worker thread.
SIGHUP reloads the config; SIGTERM drains in-flight requests (gateway.shutdownGraceMs) and exits 0.`

export const command: Command = {
  summary: 'run the gateway, admin API and control plane in one process',
  usage,
  async run(argv) {
    const configFile = parseConfigFlag(argv, usage)
    await startVigil({ configFile: configFile, mode: 'embedded', handleSignals: true })
    return new Promise<number>(() => {})
  },
}
