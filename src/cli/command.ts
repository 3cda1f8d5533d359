/** @module The shape of one `vigil` sub-command, and of a command made of named kinds. */
import { VGL_ERR_CLI_USAGE } from '../errors.js'

export interface Command {
  /** one line for `vigil help` */
  readonly summary: string
  /** full usage text for `vigil help NAME`, `vigil NAME --help` and usage errors */
  readonly usage: string
  /**
   * the usage for `vigil NAME ARGS --help` (ARGS without the `--help`) when it depends on them: a
   * command of named kinds answers the named kind's; default `usage`
   */
  helpFor?(argv: string[]): Promise<string>
  /** runs the command; resolves to the process exit code */
  run(argv: string[]): Promise<number>
}

/** One kind of a command of kinds (`vigil simulate KIND`, `vigil eval SUITE`). */
export type Kind = Pick<Command, 'usage' | 'run'>

/**
 * A command whose first argument names one of `kinds`, each loaded only when named: `vigil NAME
 * KIND ...` runs it, `vigil NAME KIND --help` prints its usage, `vigil NAME --help` this usage.
 */
export function commandOfKinds(
  name: string,
  noun: string,
  kinds: Record<string, () => Promise<Kind>>,
  summary: string,
  usage: string,
): Command {
  return {
    summary,
    usage,
    async helpFor(argv) {
      const load = argv[0] === undefined ? undefined : kinds[argv[0]]
      return load === undefined ? usage : (await load()).usage
    },
    async run(argv) {
      const [kind, ...rest] = argv
      const load = kind === undefined ? undefined : kinds[kind]
      if (load === undefined) {
        const names = Object.keys(kinds).sort().join(', ')
        const problem = kind === undefined ? `missing the ${noun}` : `unknown ${noun} "${kind}"`
        throw VGL_ERR_CLI_USAGE(`${name}: ${problem}; name one of: ${names}\n\n${usage}`)
      }
      return (await load()).run(rest)
    },
  }
}
