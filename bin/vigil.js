#!/usr/bin/env -S node --max-semi-space-size=64
// A proxied request leaves ~15 KB of short-lived objects (ours, undici's, node:http's); a 64 MB
// young generation (Node 20's default is 16 MB) cuts the number of scavenges, which cost about a
// tenth of the gateway's CPU per request (bench/RESULTS.md). V8 reads the flag only at start-up,
// hence the shebang; `node bin/vigil.js` runs without it (add NODE_OPTIONS=--max-semi-space-size=64).
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
