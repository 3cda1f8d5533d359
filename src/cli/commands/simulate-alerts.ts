/**
 * @module `vigil simulate alerts`: replays stored history (SQLite or PostgreSQL, from the config's
 * `store:`) through the config's alert rules and prints how often each would have fired and
 * paged, when and why ("how noisy would this rule have been last week?").
 */
import { loadConfig } from '../../config/index.js'
import { simulateAlerts, type AlertReplayResult } from '../../control/alert-replay.js'
import { VGL_ERR_CLI_USAGE } from '../../errors.js'
import { configPathOf, parseFlags, parseTimeMs } from '../args.js'
import type { Command } from '../command.js'
import { openStoredHistory } from '../stored-history.js'

const usage = `usage: vigil simulate alerts --from TIME --to TIME [--rule NAME] [--config vigil.yaml] [--json]

Replays the stored windows of [--from, --to) (and the anomaly and forecast events stored with
them) through the alert rules of the config, offline, on the store the config names (SQLite or
PostgreSQL). Prints per rule how many times it fired, how many notifications it would have sent,
on how many series and for how long, then each firing with its series, times and evidence.
Nothing is recorded or sent; silences and acknowledgements are not applied.

  --from, --to TIME   ISO 8601 (2026-12-01T00:00:00Z; without a zone, local time), ms since the
                      epoch, "now", or relative to now: -7d, -24h, -30m (required)
  --rule NAME         only this rule
  --config FILE       the config with the rules and the store (default vigil.yaml)
  --json              print the result as JSON`

function duration(ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  return h < 48 ? `${h}h ${m % 60}m` : `${Math.floor(h / 24)}d ${h % 24}h`
}

const iso = (ms: number) => new Date(ms).toISOString()

/**
 * The human report: one table of rules, then one line per firing with its evidence. `store` names
 * the store read, for the note when it held no window: a table of zeros alone reads as rules that
 * never fire, when the usual cause is a config naming another store than the run wrote.
 */
export function formatReport(r: AlertReplayResult, store?: string): string {
  const lines = [
    `alert rules replayed over ${iso(r.fromMs)} .. ${iso(r.toMs)} (${r.windows.toLocaleString('en-US')} windows)`,
  ]
  if (r.windows === 0)
    lines.push(
      `no window is stored${store === undefined ? '' : ` in ${store}`} over that range: check that --config names the store the run wrote` +
        ' (vigil demo keeps its data in a temporary directory, removed at the end unless --keep-data;' +
        ' set VIGIL_DEMO_DATA to that directory for examples/demo.yaml)',
    )
  lines.push('')
  const head = ['rule', 'kind', 'mode', 'firings', 'pages', 'series', 'time firing']
  const rows = r.rules.map((x) => [
    x.rule,
    x.kind,
    x.mode,
    String(x.firings),
    String(x.pages),
    String(x.series),
    duration(x.firingMs),
  ])
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
  const fmt = (row: string[]) =>
    row
      .map((c, i) => (i >= 3 && i <= 5 ? c.padStart(width[i]) : c.padEnd(width[i])))
      .join('  ')
      .trimEnd()
  lines.push(fmt(head), ...rows.map(fmt))
  if (r.firings.length > 0) lines.push('')
  for (const f of r.firings) {
    const end =
      f.resolvedAtMs === null
        ? 'still firing at --to'
        : `resolved ${iso(f.resolvedAtMs)} (${duration(f.resolvedAtMs - f.firingAtMs)}${f.resolvedBy === 'stale' ? ', stale' : ''})`
    lines.push(`${f.rule}  ${f.key}  fired ${iso(f.firingAtMs)}  ${end}${f.paged ? '' : '  (not paged)'}`)
    lines.push(`    ${f.evidence.summary}`)
  }
  return `${lines.join('\n')}\n`
}

export const command: Command = {
  summary: 'replay stored history through the alert rules: how often each would have fired',
  usage,
  async run(argv) {
    const { values } = parseFlags(
      argv,
      {
        from: { type: 'string' },
        to: { type: 'string' },
        rule: { type: 'string' },
        config: { type: 'string', short: 'c' },
        json: { type: 'boolean', default: false },
      },
      usage,
    )
    const now = Date.now()
    const fromMs = parseTimeMs(values.from as string | undefined, '--from', now)
    const toMs = parseTimeMs(values.to as string | undefined, '--to', now)
    if (!(fromMs < toMs))
      throw VGL_ERR_CLI_USAGE(`--from (${iso(fromMs)}) must be before --to (${iso(toMs)})`)
    const configFile = configPathOf(values.config as string | undefined, usage)
    const config = loadConfig(configFile)
    const store = await openStoredHistory(config, configFile, 'vigil simulate alerts')
    try {
      const result = await simulateAlerts(store, config, {
        fromMs,
        toMs,
        rule: values.rule as string | undefined,
      })
      process.stdout.write(
        values.json === true
          ? `${JSON.stringify(result, null, 2)}\n`
          : formatReport(result, config.store.kind === 'sqlite' ? config.store.path : 'the PostgreSQL store'),
      )
      return 0
    } finally {
      await store.close()
    }
  },
}
