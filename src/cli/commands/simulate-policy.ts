/**
 * @module `vigil simulate policy --name NAME --from T --to T`: replays the stored forecasts and
 * anomalies of a time range through one adaptive-limit policy (as configured, whatever its mode)
 * and prints how often it would have acted, when, and why. Reads the configured store (SQLite or
 * PostgreSQL); changes nothing.
 */
import { loadConfig } from '../../config/index.js'
import {
  createPolicy,
  loadSignals,
  POLICY_NAMES,
  replayPolicy,
  type PolicyName,
  type ReplayResult,
} from '../../control/policies/index.js'
import { VGL_ERR_CLI_USAGE } from '../../errors.js'
import { configPathOf, parseDurationMs, parseFlags, parseTimeMs } from '../args.js'
import type { Command } from '../command.js'
import { openStoredHistory } from '../stored-history.js'

const usage = `usage: vigil simulate policy --name NAME --from TIME [--to TIME] [options]

Replays stored history (forecasts, anomalies) through one adaptive-limit policy, configured as in
the config file, and prints every decision it would have made: when, on what, and why. Nothing
is changed. TIME is ISO 8601 (2026-12-01T09:00Z; without a zone, local time), milliseconds since
the epoch, "now", or now minus a duration (--from -7d, --from -90m).

  --name NAME       ${POLICY_NAMES.join(' | ')} (required)
  --from TIME       start of the range (required)
  --to TIME         end of the range (default now)
  --config FILE     vigil.yaml whose store and policies: section to use (default vigil.yaml)
  --step DURATION   evaluate this often between events (default telemetry.windowMs)
  --warmup DURATION history before --from that rebuilds the state in force at the start (default 1h)
  --json            print the result as JSON`

const iso = (ms: number) => new Date(ms).toISOString()

function printText(r: ReplayResult, mode: string, store: string, signals: Record<string, number>): string {
  const lines: string[] = []
  const counts = Object.entries(r.counts)
    .map(([a, n]) => `${a} ${n}`)
    .join(', ')
  const targets = Object.entries(r.targets)
    .sort((a, b) => b[1] - a[1])
    .map(([t, n]) => `${t} ${n}`)
    .join(', ')
  lines.push(
    `policy ${r.policy} (mode ${mode} in the config), ${iso(r.fromMs)} – ${iso(r.toMs)}, store ${store}`,
  )
  lines.push(
    `signals: ${signals.forecast ?? 0} forecasts, ${signals['anomaly.opened'] ?? 0} anomalies opened, ${signals['anomaly.resolved'] ?? 0} resolved`,
  )
  lines.push(
    `in force at the start: ${r.inForceAtStart.length === 0 ? 'nothing' : r.inForceAtStart.map((x) => `${x.target} ${JSON.stringify(x.entries)}`).join('; ')}`,
  )
  lines.push(
    r.decisions.length === 0
      ? 'decisions: none'
      : `decisions: ${r.decisions.length} (${counts})${targets !== '' ? `; changes per target: ${targets}` : ''}`,
  )
  if (r.decisions.length > 0) {
    lines.push('')
    for (const d of r.decisions)
      lines.push(`${iso(d.atMs)}  ${d.target}  ${d.action}  ${d.state}  ${d.reason}`)
  }
  return `${lines.join('\n')}\n`
}

export const command: Command = {
  summary: 'replay stored history through an adaptive-limit policy',
  usage,
  async run(argv) {
    const { values: f } = parseFlags(
      argv,
      {
        name: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        config: { type: 'string', short: 'c' },
        step: { type: 'string' },
        warmup: { type: 'string' },
        json: { type: 'boolean' },
      },
      usage,
    )
    const name = f.name as string | undefined
    if (name === undefined || !(POLICY_NAMES as readonly string[]).includes(name))
      throw VGL_ERR_CLI_USAGE(
        `--name: expected one of ${POLICY_NAMES.join(', ')}, got ${name === undefined ? 'nothing' : `"${name}"`}\n\n${usage}`,
      )
    const now = Date.now()
    const fromMs = parseTimeMs(f.from as string | undefined, '--from', now)
    const toMs = f.to === undefined ? now : parseTimeMs(f.to as string, '--to', now)
    if (toMs <= fromMs) throw VGL_ERR_CLI_USAGE(`--to: ${iso(toMs)} is not after --from ${iso(fromMs)}`)
    const configFile = configPathOf(f.config as string | undefined, usage)
    const config = loadConfig(configFile)
    const stepMs =
      f.step === undefined ? config.telemetry.windowMs : parseDurationMs(f.step as string, '--step')
    const warmupMs = f.warmup === undefined ? 3_600_000 : parseDurationMs(f.warmup as string, '--warmup')
    const policy = createPolicy(config, name as PolicyName)
    const store = await openStoredHistory(config, configFile, 'vigil simulate policy')
    let result: ReplayResult
    const seen: Record<string, number> = {}
    try {
      // at the times the live control plane learnt of them
      const signals = await loadSignals(store, fromMs - warmupMs, toMs, {
        windowMs: config.telemetry.windowMs,
        graceMs: config.control.graceMs,
      })
      for (const s of signals) if (s.atMs >= fromMs) seen[s.signal.kind] = (seen[s.signal.kind] ?? 0) + 1
      result = replayPolicy(policy, signals, { fromMs, toMs, stepMs, warmupMs })
    } finally {
      await store.close()
    }
    const where =
      config.store.kind === 'sqlite'
        ? `sqlite ${config.store.path}`
        : `postgres schema ${config.store.schema}`
    if (f.json === true) process.stdout.write(`${JSON.stringify({ ...result, signals: seen }, null, 2)}\n`)
    else process.stdout.write(printText(result, policy.mode, where, seen))
    return 0
  },
}
