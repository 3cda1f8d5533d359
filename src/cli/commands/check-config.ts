/** @module `vigil check-config FILE`: the config validator and nothing else. */
import { loadConfig } from '../../config/index.js'
import { VGL_ERR_CLI_USAGE } from '../../errors.js'
import { parseFlags } from '../args.js'
import type { Command } from '../command.js'

const usage = `usage: vigil check-config FILE

Validates a vigil.yaml (env substitution, YAML syntax, schema, cross-references) without
starting anything. Exits 0 when valid, 1 with one line per problem otherwise.`

export const command: Command = {
  summary: 'validate a vigil.yaml and print every problem',
  usage,
  async run(argv) {
    const { positionals } = parseFlags(argv, {}, usage, 1)
    const file = positionals[0]
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
