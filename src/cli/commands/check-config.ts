/** @module `vigil check-config FILE`: the config validator and nothing else. */
import { loadConfig } from '../../config/index.js'
import { VGL_ERR_CLI_USAGE } from '../../errors.js'
import { parseFlags } from '../args.js'
import type { Command } from '../command.js'

const usage = `usage: vigil check-config FILE   (or --config FILE, as the other commands take it)

Validates a vigil.yaml (env substitution, YAML syntax, schema, cross-references) without
starting anything. Exits 0 when valid, 1 with one line per problem otherwise.`

export const command: Command = {
  summary: 'validate a vigil.yaml and print every problem',
  usage,
  async run(argv) {
    const { positionals, values } = parseFlags(argv, { config: { type: 'string', short: 'c' } }, usage, 1)
    if (values.config !== undefined && positionals[0] !== undefined)
      throw VGL_ERR_CLI_USAGE(
        `check-config takes one FILE, got ${positionals[0]} and --config ${values.config}\n\n${usage}`,
      )
    const file = values.config ?? positionals[0]
    if (file === undefined) throw VGL_ERR_CLI_USAGE(`check-config needs a FILE\n\n${usage}`)
    const cfg = loadConfig(file)
    const services = Object.keys(cfg.services).length
    const routes = cfg.routes.length
    process.stdout.write(
      `${file}: OK (${services} service${services === 1 ? '' : 's'}, ${routes} route${routes === 1 ? '' : 's'})\n`,
    )
    return 0
  },
}
