import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    // Builds dist/ once before any test file runs (CLI and worker tests load compiled code).
    globalSetup: ['test/helpers/build.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core machines: integration tests spawn processes; keep parallelism modest.
    maxWorkers: 2,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'] } },
      {
        extends: true,
        // Integration files run one at a time (beside the unit files): each starts gateways,
        // control planes and traffic with timing assertions, and two of them at once on two cores
        // starved each other (a JetStream publish from a gateway at shutdown, a client window).
        test: { name: 'integration', include: ['test/**/*.test.ts'], fileParallelism: false },
      },
    ],
  },
})
