import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { cruise, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// The layering of ARCHITECTURE.md is enforced by .dependency-cruiser.mjs (`npm run lint`); these
// cases prove each rule bites, on a scratch tree of small files cruised once with the real config.
const root = fileURLToPath(new URL('..', import.meta.url))

const FILES: Record<string, string> = {
  // targets every case imports
  'src/errors.ts': 'export const E = 1\n',
  'src/metrics.ts': 'export const M = 1\n',
  'src/control/loop.ts': 'export const loop = 1\n',
  'src/gateway/server.ts': 'export const server = 1\n',
  'src/store/store.ts': 'export const store = 1\n',
  'src/cli/args.ts': 'export const args = 1\n',
  'src/api/server.ts': 'export interface ApiShape { a: number }\nexport const api = 1\n',
  'src/detect/detector.ts': 'export const d = 1\n',
  // the cases: one file each
  'src/gateway/dynamic-control.ts': "export const x = () => import('../control/loop.js')\n",
  'src/gateway/create-require.ts':
    "import { createRequire } from 'node:module'\nconst require = createRequire(import.meta.url)\nexport const x = require('../control/loop.js')\n",
  'src/limits/to-gateway.ts': "export { server } from '../gateway/server.js'\n",
  'src/telemetry/to-store.ts': "import { store } from '../store/store.js'\nexport const x = store\n",
  'src/gateway/to-store.ts': "import { store } from '../store/store.js'\nexport const x = store\n",
  'src/bus/to-store.ts': "import { store } from '../store/store.js'\nexport const x = store\n",
  'src/store/to-api.ts': "import { api } from '../api/server.js'\nexport const x = api\n",
  'src/api/to-cli.ts': "import { args } from '../cli/args.js'\nexport const x = args\n",
  'src/config/to-gateway.ts': "import { server } from '../gateway/server.js'\nexport const x = server\n",
  'src/sim/to-gateway.ts': "import { server } from '../gateway/server.js'\nexport const x = server\n",
  'src/eval/to-cli.ts': "import { args } from '../cli/args.js'\nexport const x = args\n",
  'src/detect/node-os.ts': "import { cpus } from 'node:os'\nexport const x = cpus\n",
  'src/forecast/node-zlib.ts': "import { gzipSync } from 'zlib'\nexport const x = gzipSync\n",
  'src/journeys/node-worker.ts': "import { Worker } from 'node:worker_threads'\nexport const x = Worker\n",
  'src/detect/pg.ts': "import pg from 'pg'\nexport const x = pg\n",
  'src/detect/metrics.ts': "import { M } from '../metrics.js'\nexport const x = M\n",
  'src/metrics-to-gateway.ts': '',
  'src/gateway/cycle-a.ts': "import { b } from './cycle-b.js'\nexport const a = () => b\n",
  'src/gateway/cycle-b.ts': "import { a } from './cycle-a.js'\nexport const b = () => a\n",
  'src/ui/value-import.ts': "import { api } from '../api/server.js'\nexport const x = api\n",
  // allowed
  'src/gateway/otel.ts': "import { trace } from '@opentelemetry/api'\nexport const x = trace\n",
  'src/telemetry/otel.ts': "import { trace } from '@opentelemetry/api'\nexport const x = trace\n",
  'src/detect/pure.ts':
    "import { format } from 'node:util'\nimport { DDSketch } from '@datadog/sketches-js'\nimport { E } from '../errors.js'\nexport const x = [format, DDSketch, E]\n",
  'src/control/uses-detect.ts': "import { d } from '../detect/detector.js'\nexport const x = d\n",
  'src/ui/type-import.ts': "import type { ApiShape } from '../api/server.js'\nexport type X = ApiShape\n",
  'src/gateway/type-cycle-a.ts': "import type { B } from './type-cycle-b.js'\nexport interface A { b?: B }\n",
  'src/gateway/type-cycle-b.ts': "import type { A } from './type-cycle-a.js'\nexport interface B { a?: A }\n",
  'src/gateway/x.test.ts': "import { loop } from '../control/loop.js'\nexport const x = loop\n",
}
FILES['src/metrics-to-gateway.ts'] = "import { server } from './gateway/server.js'\nexport const x = server\n"

let dir = ''
let found: Array<{ rule: string; from: string; to: string }> = []

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-layering-'))
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ extends: join(root, 'tsconfig.json'), include: ['src'] }),
  )
  for (const [path, code] of Object.entries(FILES)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), code)
  }
  const { default: config } = (await import(pathToFileURL(join(root, '.dependency-cruiser.mjs')).href)) as {
    default: { forbidden: IForbiddenRuleType[]; options: Record<string, unknown> }
  }
  const cwd = process.cwd()
  process.chdir(dir) // rules match paths relative to the working directory
  try {
    const out = await cruise(['src'], {
      ...config.options,
      tsConfig: { fileName: join(dir, 'tsconfig.json') },
      validate: true,
      ruleSet: { forbidden: config.forbidden },
    })
    const result = out.output as ICruiseResult
    found = result.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }))
  } finally {
    process.chdir(cwd)
  }
}, 60_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const rulesFor = (from: string) => found.filter((v) => v.from === from).map((v) => v.rule)

describe('layering rules (.dependency-cruiser.mjs)', () => {
  it.each([
    ['src/gateway/dynamic-control.ts', 'layer-gateway', 'a dynamic import()'],
    ['src/gateway/create-require.ts', 'layer-gateway', 'require() from createRequire'],
    ['src/gateway/create-require.ts', 'no-create-require', 'node:module itself'],
    ['src/limits/to-gateway.ts', 'layer-limits', 'limits -> gateway (export ... from)'],
    ['src/telemetry/to-store.ts', 'layer-telemetry', 'telemetry -> store'],
    ['src/gateway/to-store.ts', 'layer-gateway', 'gateway -> store'],
    ['src/bus/to-store.ts', 'layer-bus', 'bus -> store'],
    ['src/store/to-api.ts', 'layer-store', 'store -> api'],
    ['src/api/to-cli.ts', 'layer-api', 'api -> cli'],
    ['src/config/to-gateway.ts', 'layer-config', 'config -> gateway'],
    ['src/sim/to-gateway.ts', 'layer-sim', 'sim -> gateway'],
    ['src/eval/to-cli.ts', 'layer-eval', 'eval -> cli'],
    ['src/detect/node-os.ts', 'pure-detect-builtins', 'node:os in a pure library'],
    ['src/forecast/node-zlib.ts', 'pure-forecast-builtins', 'a bare built-in name'],
    ['src/journeys/node-worker.ts', 'pure-journeys-builtins', 'node:worker_threads'],
    ['src/detect/pg.ts', 'pure-detect-packages', 'a database client'],
    ['src/detect/metrics.ts', 'layer-detect-shared', 'the metrics registry'],
    ['src/metrics-to-gateway.ts', 'shared-files-are-leaves', 'a shared file importing a layer'],
    ['src/gateway/cycle-a.ts', 'no-cycles', 'an import cycle'],
    ['src/ui/value-import.ts', 'layer-ui', 'code from the API in the dashboard'],
  ])('%s breaks %s (%s)', (from, rule) => {
    expect(rulesFor(from)).toContain(rule)
  })

  it.each([
    ['src/gateway/otel.ts', '@opentelemetry/api is a package, not the api/ layer'],
    ['src/telemetry/otel.ts', 'the same from telemetry'],
    ['src/detect/pure.ts', 'node:util, a pure package and errors.ts in a pure library'],
    ['src/control/uses-detect.ts', 'control uses detect'],
    ['src/ui/type-import.ts', 'the dashboard may share the API types'],
    ['src/gateway/type-cycle-a.ts', 'a cycle of type-only imports'],
    ['src/gateway/x.test.ts', 'tests may reach across layers'],
  ])('%s is allowed (%s)', (from) => {
    expect(rulesFor(from)).toEqual([])
  })
})
