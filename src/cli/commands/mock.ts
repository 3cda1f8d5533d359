/** @module `vigil mock`: one mock upstream service in the foreground until Ctrl-C. */
import { parseLatencyRange, startMockService } from '../../sim/index.js'
import { VGL_ERR_CLI_USAGE } from '../../errors.js'
import { parseFlags, parsePort } from '../args.js'
import type { Command } from '../command.js'

const usage = `usage: vigil mock --port P [--name N] [--host H] [--latency-ms 50-500] [--error-rate R]
                  [--slow-rate R] [--reset-rate R] [--concurrency N] [--seed S]

A mock upstream service. Latency is heavy-tailed: a log-normal body with a Pareto tail, fitted so
the low end of --latency-ms is near the 5th percentile and the high end near the 99th
(default 0: answer at once). --error-rate answers that fraction with 500, --slow-rate makes that
fraction 10x slower, --reset-rate resets that fraction of connections. --concurrency N serves at
most N requests at once and queues the rest in arrival order: with a fixed --latency-ms L the
service saturates at N × 1000 / L req/s and its latency climbs past that load.

Answers JSON {service, method, path, latencyMs, requestId, bodyBytes}. Endpoints:
  GET  /health              200, or 503 during an outage incident
  POST /_mock/incident      {"kind":"latency"|"errors"|"outage","durationMs":30000,
                             "factor":10, "errorRate":0.5, "reset":false}
  DELETE /_mock/incident    end the incident now
  GET  /_mock/stats         request, error and reset counters
Per request: ?sleep=MS, ?status=CODE, ?bytes=N (stream N bytes), ?reset=1.`

function rate(text: string | undefined, flag: string): number {
  if (text === undefined) return 0
  const n = Number(text)
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw VGL_ERR_CLI_USAGE(`${flag}: expected a fraction in [0, 1], got "${text}"`)
  return n
}

export const command: Command = {
  summary: 'run a mock upstream service (heavy-tailed latency, failures, incident injection)',
  usage,
  async run(argv) {
    const { values } = parseFlags(
      argv,
      {
        port: { type: 'string' },
        host: { type: 'string' },
        name: { type: 'string' },
        'latency-ms': { type: 'string' },
        'error-rate': { type: 'string' },
        'slow-rate': { type: 'string' },
        'reset-rate': { type: 'string' },
        concurrency: { type: 'string' },
        seed: { type: 'string' },
      },
      usage,
    )
    if (values.port === undefined)
      throw VGL_ERR_CLI_USAGE(`mock needs --port (0 picks a free one)\n\n${usage}`)
    const port = parsePort(values.port, '--port', 0)
    const seed = values.seed === undefined ? undefined : Number(values.seed)
    if (seed !== undefined && !Number.isInteger(seed))
      throw VGL_ERR_CLI_USAGE(`--seed: expected a whole number, got "${values.seed}"`)
    const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency)
    if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1))
      throw VGL_ERR_CLI_USAGE(`--concurrency: expected a whole number ≥ 1, got "${values.concurrency}"`)
    const svc = await startMockService({
      port,
      host: values.host ?? '127.0.0.1',
      name: values.name ?? 'mock',
      latencyMs: parseLatencyRange(values['latency-ms'] ?? '0'),
      errorRate: rate(values['error-rate'], '--error-rate'),
      slowRate: rate(values['slow-rate'], '--slow-rate'),
      resetRate: rate(values['reset-rate'], '--reset-rate'),
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(seed !== undefined ? { seed } : {}),
    })
    const m = svc.latency
    process.stdout.write(
      `${values.name === undefined ? 'mock' : `mock ${svc.name}`} listening on ${svc.url} (latency p5 ${m.loMs} ms, p99 ${m.hiMs} ms)\n`,
    )
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    await svc.close()
    return 0
  },
}
