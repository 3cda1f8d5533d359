import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Builds dist/ once before any test file runs (CLI and worker tests load compiled code).
    globalSetup: ['test/helpers/build.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core machines: integration tests spawn processes; keep parallelism modest.
    maxWorkers: 2,
    pool: 'forks',
  },
})
