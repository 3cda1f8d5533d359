// The layering of ARCHITECTURE.md, checked by dependency-cruiser (`npm run lint`): one table of
// the folders of src/, what each may import, and which may do I/O; the rules are generated from
// it. dependency-cruiser resolves every import to a file (static and dynamic `import()`, `export
// ... from`, `require`), so a rule cannot be dodged by how an import is spelled, and a package
// name such as `@opentelemetry/api` is never mistaken for a layer. Tests (`*.test.ts`) and
// contract suites (`*.contract.ts`) may reach across layers; everything else may not.

/**
 * Each layer may import itself, the layers in `uses`, `src/errors.ts`, and, unless pure, the other
 * shared files at the top of src/ (`metrics.ts`, `audit.ts`, `parsing.ts`, `output.ts`, `http-close.ts`, `http-linger.ts`, `listen-error.ts`, `listen-address.ts`, `format.ts`). A pure layer does no
 * I/O: no Node.js built-in but PURE_BUILTINS, no npm package but PURE_PACKAGES.
 */
export const LAYERS = {
  config: { uses: [] },
  detect: { uses: [], pure: true },
  forecast: { uses: [], pure: true },
  journeys: { uses: ['detect', 'forecast'], pure: true },
  sim: { uses: ['config'] },
  bus: { uses: ['config'] },
  telemetry: { uses: ['bus', 'config'] },
  limits: { uses: ['bus', 'config'] },
  store: { uses: ['config', 'telemetry'] },
  gateway: { uses: ['config', 'limits', 'telemetry'] },
  // alerts and scale sit beside control: control drives them, they never call back into it
  alerts: { uses: ['bus', 'config', 'detect', 'forecast', 'journeys', 'store', 'telemetry'] },
  scale: { uses: ['bus', 'config', 'detect', 'forecast', 'journeys', 'store', 'telemetry'] },
  control: {
    uses: [
      'alerts',
      'bus',
      'config',
      'detect',
      'forecast',
      'journeys',
      'limits',
      'scale',
      'store',
      'telemetry',
    ],
  },
  api: {
    uses: [
      'alerts',
      'bus',
      'config',
      'control',
      'detect',
      'forecast',
      'gateway',
      'journeys',
      'limits',
      'scale',
      'store',
      'telemetry',
    ],
  },
  // offline evaluation suites behind `vigil detect|forecast|simulate`
  eval: { uses: ['alerts', 'config', 'detect', 'forecast', 'journeys', 'scale', 'sim'] },
  // the dashboard talks to the admin API over HTTP only: it may import other layers' types, no code
  ui: { uses: [], typesFrom: 'any' },
  cli: { uses: 'any' },
}

/** Node.js built-ins that do no I/O, allowed in pure layers. */
export const PURE_BUILTINS = ['assert', 'buffer', 'events', 'string_decoder', 'util']
/** npm packages that do no I/O, allowed in pure layers (vitest: for contract suites). */
export const PURE_PACKAGES = [
  '@datadog/sketches-js',
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-backend-wasm',
  'ml-matrix',
  'simple-statistics',
  'vitest',
]

const names = Object.keys(LAYERS)
const TEST = '\\.(test|contract)\\.tsx?$'
const any = (list) => `^src/(${list.join('|')})/`
const pkg = (list) => `(^|/)node_modules/(${list.map((p) => p.replace(/[/.]/g, '\\$&')).join('|')})/`

function layerRules() {
  const rules = []
  for (const [name, layer] of Object.entries(LAYERS)) {
    if (layer.uses === 'any') continue
    const from = { path: `^src/${name}/`, pathNot: TEST }
    const others = names.filter((n) => n !== name && !layer.uses.includes(n))
    if (others.length > 0)
      rules.push({
        name: `layer-${name}`,
        severity: 'error',
        comment: `${name}/ may import only ${layer.uses.length === 0 ? 'nothing from other layers' : layer.uses.join(', ')} (ARCHITECTURE.md layering; the table is in .dependency-cruiser.mjs)`,
        from,
        to:
          layer.typesFrom === 'any'
            ? { path: any(others), dependencyTypesNot: ['type-only'] }
            : { path: any(others) },
      })
    rules.push({
      name: `layer-${name}-shared`,
      severity: 'error',
      comment: layer.pure
        ? `${name}/ is a pure library: of the shared files at the top of src/ it may import errors.ts only`
        : `${name}/: the shared files at the top of src/ are errors.ts, metrics.ts, audit.ts, parsing.ts, output.ts, http-close.ts, http-linger.ts, listen-error.ts, listen-address.ts and format.ts`,
      from,
      to: {
        path: '^src/[^/]+\\.ts$',
        pathNot: layer.pure
          ? '^src/errors\\.ts$'
          : '^src/(errors|metrics|audit|parsing|output|http-close|http-linger|listen-error|listen-address|format)\\.ts$',
        ...(layer.typesFrom === 'any' ? { dependencyTypesNot: ['type-only'] } : {}),
      },
    })
    if (layer.pure) {
      rules.push({
        name: `pure-${name}-builtins`,
        severity: 'error',
        comment: `${name}/ is a pure library: no I/O, so no Node.js built-in but ${PURE_BUILTINS.join(', ')}`,
        from,
        to: { dependencyTypes: ['core'], pathNot: `^(node:)?(${PURE_BUILTINS.join('|')})$` },
      })
      rules.push({
        name: `pure-${name}-packages`,
        severity: 'error',
        comment: `${name}/ is a pure library: no I/O, so no npm package but ${PURE_PACKAGES.join(', ')} (add one to PURE_PACKAGES in .dependency-cruiser.mjs only if it does no I/O)`,
        from,
        to: {
          dependencyTypes: ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'],
          pathNot: pkg(PURE_PACKAGES),
        },
      })
    }
  }
  return rules
}

export default {
  forbidden: [
    ...layerRules(),
    {
      name: 'shared-files-are-leaves',
      severity: 'error',
      comment:
        'errors.ts, metrics.ts, audit.ts, parsing.ts, output.ts, http-close.ts, http-linger.ts, listen-error.ts, listen-address.ts and format.ts sit below every layer: they import none',
      from: { path: '^src/[^/]+\\.ts$', pathNot: TEST },
      to: { path: '^src/[^/]+/' },
    },
    {
      name: 'no-create-require',
      severity: 'error',
      comment: 'node:module (createRequire) hides imports from this check; use import()',
      from: { path: '^src/' },
      to: { dependencyTypes: ['core'], path: '^(node:)?module$' },
    },
    {
      name: 'no-cycles',
      severity: 'error',
      comment:
        'an import cycle (type-only imports excepted): move the shared part into a module both can import',
      from: { path: '^src/', pathNot: TEST },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'an import that resolves to no file and no installed package',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/ui/(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types'],
    },
    exoticRequireStrings: [],
  },
}
