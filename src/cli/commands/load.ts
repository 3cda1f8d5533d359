/** @module `vigil load`: a bounded traffic generator with a live progress line and a summary. */
import { formatSummary, parsePattern, runLoad, type LoadProgress } from '../../sim/index.js'
import { VGL_ERR_CLI_USAGE } from '../../errors.js'
import { parseFlags, parsePositive, parseTimerMs } from '../args.js'
import type { Command } from '../command.js'

const usage = `usage: vigil load --target URL [--pattern steady|diurnal|spike|abusive] [--rps N]
                  [--duration 60s] [--keys k1,k2,...] [--concurrency C] [--json]

Open-loop traffic to URL (127.0.0.1 or another host you own) for the duration, then a summary:
sent, achieved rate, status counts, latency p50/p95/p99. It never runs past --duration: requests
still in flight at the end are aborted. At most --concurrency requests are in flight (default
max(16, peak rate)); requests due beyond that are counted as dropped, not queued.

  steady   --rps throughout (default 10)
  diurnal  one compressed day: 20% of --rps at the start and end, --rps at the midpoint
  spike    --rps, with 5x --rps for the middle 10% of the run
  abusive  --rps, with the first 10% of --keys (default key-01..key-10) sending 80% of it
--keys sends X-API-Key. --json prints the summary as JSON on stdout.`

function progressLine(p: LoadProgress): string {
  return `load ${(p.elapsedMs / 1000).toFixed(0)}s  sent ${p.sent}  done ${p.completed}  in flight ${p.inFlight}  failed ${p.failed}  dropped ${p.dropped}  ${p.currentRps.toFixed(0)}/${p.targetRps.toFixed(0)} req/s`
}

export const command: Command = {
  summary: 'generate bounded traffic (steady, diurnal, spike, abusive) and print a summary',
  usage,
  async run(argv) {
    const { values } = parseFlags(
      argv,
      {
        target: { type: 'string' },
        pattern: { type: 'string' },
        rps: { type: 'string' },
        duration: { type: 'string' },
        keys: { type: 'string' },
        concurrency: { type: 'string' },
        json: { type: 'boolean' },
      },
      usage,
    )
    if (values.target === undefined) throw VGL_ERR_CLI_USAGE(`load needs --target URL\n\n${usage}`)
    const tty = process.stderr.isTTY === true
    const ac = new AbortController()
    const stop = () => ac.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      const summary = await runLoad(
        {
          target: values.target,
          pattern: parsePattern(values.pattern ?? 'steady'),
          rps: parsePositive(values.rps, '--rps', 10),
          durationMs: parseTimerMs(values.duration ?? '60s', '--duration', 'how long to send'),
          ...(values.keys !== undefined ? { keys: values.keys.split(',').filter((k) => k !== '') } : {}),
          ...(values.concurrency !== undefined
            ? { concurrency: parsePositive(values.concurrency, '--concurrency', 16) }
            : {}),
          signal: ac.signal,
          // A TTY gets a line rewritten in place; logs get one line every 5 s.
          progressIntervalMs: tty ? 250 : 5000,
          onProgress: (p) =>
            process.stderr.write(tty ? `\r\x1b[K${progressLine(p)}` : `${progressLine(p)}\n`),
        },
        '--target',
      )
      if (tty) process.stderr.write('\r\x1b[K')
      process.stdout.write(
        values.json === true ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`,
      )
      // a run where nothing answered measured nothing: a wrong port or a stopped service
      if (summary.sent > 0 && summary.completed === 0) {
        const why = Object.entries(summary.failures)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')
        process.stderr.write(
          `vigil load: no request to ${values.target} got a response${why === '' ? '' : ` (${why})`}; check that the service runs and --target names its port\n`,
        )
        return 1
      }
      return 0
    } finally {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
  },
}
