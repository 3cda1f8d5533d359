#!/usr/bin/env node
// Runs benchmarks: `npm run bench` runs every bench/*.bench.mjs; `npm run bench -- NAME` runs one.
// Benchmarks import the compiled code from dist/ (the `bench` script builds first).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const dir = fileURLToPath(new URL('.', import.meta.url))
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.mjs'))
  .sort()
const wanted = process.argv.slice(2)
const chosen =
  wanted.length === 0 ? all : wanted.map((w) => (w.endsWith('.bench.mjs') ? w : `${w}.bench.mjs`))
let failed = 0
for (const file of chosen) {
  if (!all.includes(file)) {
    console.error(`bench: no bench/${file} (have: ${all.join(', ')})`)
    failed++
    continue
  }
  console.log(`\n=== ${file} ===`)
  const r = spawnSync(process.execPath, [`${dir}${file}`], { stdio: 'inherit' })
  if (r.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
