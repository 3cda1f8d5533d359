// Lint rules, including the layering of ../shared/ARCHITECTURE.md: the data plane never
// imports the control plane, and the learning libraries import no I/O.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const IO_MODULES = [
  'node:fs',
  'node:fs/promises',
  'node:http',
  'node:https',
  'node:net',
  'node:dgram',
  'node:child_process',
  'node:worker_threads',
  'fs',
  'fs/promises',
  'http',
  'https',
  'net',
  'child_process',
  'undici',
  'fastify',
  'ioredis',
  'pg',
  'pg-copy-streams',
  'better-sqlite3',
  '@nats-io/*',
  'pino',
]
const ioPatterns = IO_MODULES.map((name) => ({
  group: [name],
  message: 'detect/, forecast/ and journeys/ are pure libraries: no I/O (ARCHITECTURE.md)',
}))
const upperLayers = (layers) =>
  layers.map((l) => ({
    group: [`**/${l}`, `**/${l}/*`, `../${l}/**`],
    message: `this layer must not import ${l}/ (ARCHITECTURE.md layering)`,
  }))

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'bench/out/**', 'src/ui/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        performance: 'readonly',
        structuredClone: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        AbortController: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    files: ['src/gateway/**', 'src/limits/**', 'src/telemetry/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: upperLayers([
            'control',
            'api',
            'cli',
            'detect',
            'forecast',
            'journeys',
            'alerts',
            'scale',
          ]),
        },
      ],
    },
  },
  {
    files: ['src/detect/**', 'src/forecast/**', 'src/journeys/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...ioPatterns,
            ...upperLayers(['gateway', 'control', 'api', 'cli', 'store', 'bus', 'telemetry', 'limits']),
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.test.ts', 'test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
)
