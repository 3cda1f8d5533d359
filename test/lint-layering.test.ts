import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'

// The layering of ARCHITECTURE.md is enforced by eslint.config.js; these cases prove the rule bites.
const eslint = new ESLint({ cwd: new URL('..', import.meta.url).pathname })

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath })
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message)
}

describe('layering lint rule', () => {
  it('refuses control/ imports from the gateway', async () => {
    const msgs = await restrictedImports(
      'src/gateway/x.ts',
      "import { a } from '../control/loop.js'\nexport { a }\n",
    )
    expect(msgs.join()).toMatch(/must not import control/)
  })

  it('refuses I/O modules in detect/, forecast/ and journeys/', async () => {
    for (const dir of ['detect', 'forecast', 'journeys']) {
      const msgs = await restrictedImports(
        `src/${dir}/x.ts`,
        "import { readFileSync } from 'node:fs'\nexport { readFileSync }\n",
      )
      expect(msgs.join()).toMatch(/pure libraries: no I\/O/)
    }
  })

  it('refuses storage and HTTP clients in detect/', async () => {
    const msgs = await restrictedImports('src/detect/x.ts', "import pg from 'pg'\nexport { pg }\n")
    expect(msgs.length).toBe(1)
  })

  it('allows the control plane to use detect/', async () => {
    const msgs = await restrictedImports(
      'src/control/x.ts',
      "import { a } from '../detect/index.js'\nexport { a }\n",
    )
    expect(msgs).toEqual([])
  })
})
