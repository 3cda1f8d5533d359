import { existsSync, readFileSync } from 'node:fs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { runCli as vigil } from '../../test/helpers/cli.js'

// A newcomer pastes the README's commands as written: a flag the command does not take, or an
// input file the repository does not ship, fails on the first try.
const root = new URL('../../', import.meta.url)
const readme = readFileSync(new URL('README.md', root), 'utf8')

/** The commands of the README's ```sh blocks, continuation lines joined. */
function shellCommands(): string[] {
  const blocks = [...readme.matchAll(/^ *```sh\n([\s\S]*?)^ *```/gm)].map((m) => m[1])
  return blocks
    .flatMap((b) => b.replace(/\\\n\s*/g, ' ').split('\n'))
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => /\bvigil [a-z]/.test(line))
}

/** Every `vigil ...` the README shows: in shell blocks, in running text and in the command table. */
function invocations(): string[] {
  const inline = [...readme.matchAll(/`((?:npx )?vigil [^`]+)`/g)].map((m) => m[1])
  return [...shellCommands(), ...inline].map((c) => c.slice(c.indexOf('vigil ')))
}

afterEach(() => vi.restoreAllMocks())

describe("the README's vigil commands", () => {
  it('use only flags that the command (or its kind) lists in its usage', async () => {
    const { out } = await vigil('--help')
    const commands = new Set([...out.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]))
    const unknown: string[] = []
    const usages = new Map<string, string>()
    let checked = 0
    for (const invocation of invocations()) {
      const [, name, kind] = invocation.split(/\s+/)
      if (!commands.has(name)) continue // `vigil --help`, `vigil COMMAND --help`, `vigil help ...`
      const args = kind !== undefined && /^[a-z]/.test(kind) ? [name, kind] : [name]
      const usage = usages.get(args.join(' ')) ?? (await vigil(...args, '--help')).out
      usages.set(args.join(' '), usage)
      for (const [flag] of invocation.matchAll(/--[a-z][a-z-]*/g)) {
        checked++
        if (flag !== '--help' && !new RegExp(`${flag}(?![a-z-])`).test(usage))
          unknown.push(`${args.join(' ')} ${flag}`)
      }
    }
    expect(checked).toBeGreaterThan(40)
    expect(unknown).toEqual([])
  })

  it('read files that the repository ships', () => {
    const read = shellCommands().flatMap((c) => [...c.matchAll(/--(?:input|config) (\S+)/g)].map((m) => m[1]))
    expect(read.filter((path) => !existsSync(new URL(path, root)))).toEqual([])
    expect(read).toContain('examples/requests.csv')
  })
})
