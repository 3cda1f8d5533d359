/**
 * @module The store a command that replays history reads: opened only when it exists, since
 * opening a missing one would create an empty database wherever the config points (the demo's
 * config in any directory it is run from) and then report a history of nothing.
 */
import type { Config } from '../config/index.js'
import { openStore, type Store } from '../store/index.js'

/**
 * The config's store, which must exist; else VGL_ERR_STORE_MISSING naming where it looked, the
 * config file and the ways to a store with history in it.
 */
export function openStoredHistory(config: Config, configFile: string, command: string): Promise<Store> {
  return openStore(config.store, {
    mustExist:
      `${command} reads the history a running Vigil stored and creates no store; ` +
      `run Vigil with this config first (vigil start --config ${configFile}), ` +
      `or point the store of ${configFile} at one a run wrote ` +
      '(vigil demo --keep-data prints its data directory; VIGIL_DEMO_DATA=DIR points examples/demo.yaml there)',
  })
}
