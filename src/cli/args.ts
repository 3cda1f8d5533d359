/** @module The command line's argument parsing: the shared helpers (src/parsing.ts) and `--config`. */
import { parseFlags } from '../parsing.js'

export {
  formatDurationMs,
  parseDurationMs,
  parseFlags,
  parsePort,
  parsePositive,
  parseTimeMs,
} from '../parsing.js'

/** Parses the one flag the long-running commands take, `--config FILE` (default `vigil.yaml`). */
export function parseConfigFlag(argv: string[], usage: string): string {
  const { values } = parseFlags(
    argv,
    { config: { type: 'string', short: 'c', default: 'vigil.yaml' } },
    usage,
  )
  return values.config as string
}
