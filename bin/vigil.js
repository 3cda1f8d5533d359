#!/usr/bin/env node
// The CLI is compiled by `npm install` (the `prepare` script) into dist/.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const main = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write(
    'vigil: dist/ is missing; run `npm install` (or `npm run build`) in the checkout first\n',
  )
  process.exit(1)
}
const { run } = await import(main.href)
process.exitCode = await run(process.argv.slice(2))
