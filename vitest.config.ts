import { relative } from 'node:path'
import { BaseSequencer, type TestSpecification } from 'vitest/node'
import { defineConfig } from 'vitest/config'

/**
 * End-to-end files start gateways, control planes and traffic with timing assertions. `npm test`
 * (test/run.mjs) runs them in two lanes at once, one file at a time in each (they mostly wait on
 * windows and timeouts; more at once on two cores starved each other). Each list is in run order:
 * the first lane starts with the busiest files (the demo, the journeys), the second with light
 * ones, so the heaviest never run side by side; the browser files end the second beside the first's
 * light tail. The lanes' files add up to about the same time (per file, as a CI run measures it),
 * so the lanes end together. A file in neither list runs last in the first lane.
 */
const FIRST_LANE = [
  'test/integration/demo-cli.test.ts',
  'test/integration/journeys.test.ts',
  'test/integration/client-abuse.test.ts',
  'test/integration/alerts-embedded.test.ts',
  'test/integration/limits-redis-outage.test.ts',
  'test/integration/adaptive-limits.test.ts',
  'test/integration/anomaly-pressure.test.ts',
  'test/integration/limits-memory.test.ts',
  'test/integration/autoscale-process.test.ts',
  'test/integration/autoscale-scaled.test.ts',
  'test/integration/audit-scaled.test.ts',
  'test/integration/client-windows-nats.test.ts',
  'test/integration/autoscale-adopt.test.ts',
  'test/integration/autoscale-replay.test.ts',
  'test/integration/gateway-keepalive.test.ts',
  'test/integration/scale-drain.test.ts',
  'test/integration/store-full.test.ts',
  'test/integration/control-followers.test.ts',
  'test/integration/gateway-timeouts.test.ts',
]
const SECOND_LANE = [
  'test/lint-layering.test.ts',
  'test/forecast-cli.test.ts',
  'test/integration/gateway-proxy.test.ts',
  'test/integration/gateway-streaming.test.ts',
  'test/integration/gateway-targets.test.ts',
  'test/integration/gateway-reload.test.ts',
  'test/integration/gateway-health.test.ts',
  'test/integration/gateway-retry.test.ts',
  'test/integration/gateway-shutdown.test.ts',
  'test/integration/autoscale-alerts.test.ts',
  'test/integration/recorder-nats-retry.test.ts',
  'test/integration/limits-redis.test.ts',
  'test/integration/limits-admin-redis-down.test.ts',
  'test/integration/limits-control-clients.test.ts',
  'test/integration/journeys-alerts.test.ts',
  'test/integration/live-control.test.ts',
  'test/integration/control-embedded.test.ts',
  'test/integration/scaled-out-control.test.ts',
  'test/integration/nats-outage.test.ts',
  'test/integration/targets-nats-blip.test.ts',
  'test/integration/bus-nats.test.ts',
  'test/integration/otlp-ingest.test.ts',
  'test/integration/postgres-outage.test.ts',
  'test/integration/scaled-out-windows.test.ts',
  'test/deploy.test.ts',
  'test/integration/control-failover.test.ts',
  'test/integration/control-failover-rollups.test.ts',
  'test/integration/autoscale-learn-scaled.test.ts',
  'test/integration/start-failure.test.ts',
  'test/integration/admin-runtime.test.ts',
  'test/integration/alerts-stale.test.ts',
  'test/integration/bus-runtime.test.ts',
  'test/browser/chart-marks.test.ts',
  'test/browser/missing-data.test.ts',
  'test/browser/control-dashboard.test.ts',
  'test/browser/dashboard.test.ts',
]
const ORDER = new Map([...FIRST_LANE, ...SECOND_LANE].map((file, i) => [file, i]))

/** The default order (slowest known first), then the lanes' order for the files they list. */
class LaneOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (spec: TestSpecification) =>
      ORDER.get(relative(spec.project.config.root, spec.moduleId)) ?? Number.MAX_SAFE_INTEGER
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b))
  }
}

export default defineConfig({
  test: {
    // Builds dist/ once before any test file runs (CLI and worker tests load compiled code).
    globalSetup: ['test/helpers/build.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core machines: integration tests spawn processes; keep parallelism modest.
    maxWorkers: 2,
    pool: 'forks',
    // A worker process runs its files one after another with the modules it already loaded: a
    // fresh process per file spent about 2 s loading the same modules again (over a minute of the
    // second lane, 40 s of each other Node version's unit run). So a test file must leave nothing
    // behind that another reads: close its servers, processes and streams, restore real timers
    // and the working directory, and assert Vigil's process-wide metrics per label of its own or
    // as differences.
    isolate: false,
    sequence: { sequencer: LaneOrder },
    projects: [
      { extends: true, test: { name: 'unit', include: ['src/**/*.test.ts'] } },
      // Plain `vitest run` runs both lanes one file at a time, after the unit files.
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: SECOND_LANE,
          fileParallelism: false,
        },
      },
      { extends: true, test: { name: 'integration-2', include: SECOND_LANE, fileParallelism: false } },
    ],
  },
})
