/**
 * @module Actuator failures as alerts: the autoscaler records `scale.alert` when a service's
 * actuator starts failing (retries spent, or a new replica never became healthy and was rolled
 * back) and `scale.recovered` when it works again; this turns those records, as the action log
 * finalises them, into signals for the alert engine's `actuator` rules, which page through the
 * sinks with the usual dedup, repeats, silences and acknowledgements. Any enforced scale action
 * that succeeds also resolves: a new leader's autoscaler knows nothing of its predecessor's
 * failure streak and never records `scale.recovered` for it.
 *
 * ```
 * Autoscaler ─record─▶ ActionLog ─watch (final records)─▶ actuatorSignals ─▶ AlertEngine.signal ─▶ sinks
 * ```
 */
import type { ActuatorSignal } from '../alerts/index.js'
import type { Config } from '../config/index.js'
import type { ActionRecord } from './actions.js'

/** The rule added when scaling is enforced and the config has no `actuator` rule of its own. */
export const DEFAULT_ACTUATOR_RULE = 'scale-actuator'

const SCALED = new Set(['scale.replicas', 'scale.manual', 'scale.restart'])

/**
 * The config alerting runs with: the configured rules, plus a critical `scale-actuator` rule to
 * every sink when some service scales in enforce mode and no rule of kind `actuator` is configured
 * (configure one to change its severity, sinks or mode).
 */
export function withActuatorRule(config: Config): Config {
  const a = config.alerts
  const enforced = Object.values(config.services).some((s) => s.scale?.mode === 'enforce')
  if (!enforced || a.rules.some((r) => r.kind === 'actuator' || r.name === DEFAULT_ACTUATOR_RULE))
    return config
  return {
    ...config,
    alerts: {
      ...a,
      rules: [
        ...a.rules,
        {
          name: DEFAULT_ACTUATOR_RULE,
          kind: 'actuator',
          mode: 'enforce',
          match: {},
          level: 'service',
          for: { windows: 1 },
          resolveFor: { windows: 1 },
          severity: 'critical',
          labels: {},
          minRequests: 0,
        },
      ],
    },
  }
}

/** The watcher to give `ActionLog.watch`: final scale records to actuator signals. */
export function actuatorSignals(
  engine: { signal(s: ActuatorSignal): void },
  env: string,
): (rec: ActionRecord) => void {
  return (rec) => {
    if (rec.mode !== 'enforce' || !rec.target.startsWith('service:')) return
    const failing = rec.kind === 'scale.alert'
    const recovered = rec.kind === 'scale.recovered' || (SCALED.has(rec.kind) && rec.result.status === 'ok')
    if (!failing && !recovered) return
    const ev = (rec.evidence ?? {}) as { actuator?: unknown }
    engine.signal({
      actuator: typeof ev.actuator === 'string' ? ev.actuator : 'actuator',
      service: rec.target.slice('service:'.length),
      env,
      failing,
      atMs: rec.atMs,
      summary:
        rec.kind === 'scale.alert' || rec.kind === 'scale.recovered' ? rec.reason : `scaled: ${rec.reason}`,
      details: { action: rec.id, kind: rec.kind, ...(typeof rec.evidence === 'object' ? rec.evidence : {}) },
    })
  }
}
