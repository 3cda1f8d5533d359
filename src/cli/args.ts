/** @module The command line's argument parsing: the shared helpers (src/parsing.ts) and `--config`. */
import { existsSync } from 'node:fs'
import { VGL_ERR_CLI_USAGE } from '../errors.js'
import { parseFlags } from '../parsing.js'

export {
  formatDurationMs,
  parseDurationMs,
  parseFlags,
  parsePort,
  parsePositive,
  parseTimeMs,
  parseTimerMs,
} from '../parsing.js'

/**
 * Parses the one flag the long-running commands take, `--config FILE` (default `vigil.yaml`). Left
 * out with no `vigil.yaml` here, it is a usage error asking for the flag: "cannot read vigil.yaml"
 * reads as a broken install to someone who never named that file.
 */
export function parseConfigFlag(argv: string[], usage: string): string {
  const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' } }, usage)
  return configPathOf(values.config, usage)
}

/** The `--config` given, else `vigil.yaml` if there is one here, else a usage error asking for the flag. */
export function configPathOf(given: string | undefined, usage: string): string {
  if (given !== undefined) return given
  if (!existsSync(DEFAULT_CONFIG))
    throw VGL_ERR_CLI_USAGE(
      `--config: not given, and there is no ${DEFAULT_CONFIG} in ${process.cwd()}; pass --config FILE (examples/ in the repository has some)\n\n${usage}`,
    )
  return DEFAULT_CONFIG
}

const DEFAULT_CONFIG = 'vigil.yaml'
