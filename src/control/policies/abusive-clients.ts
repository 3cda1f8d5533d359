/**
 * @module Abusive clients: a client the per-client detector flags (a `client` anomaly) gets its
 * own multiplier (`clients.<id>`, every service) with an expiry renewed while the anomaly stays
 * open; it is lifted once the anomaly has resolved for `holdMs` and the limit has held `holdMs`.
 * At most `maxClients` are limited at once; `exempt` clients never are.
 */
import { fmtAgainstTypical } from '../../format.js'
import type { AbusiveClientsConfig } from '../../config/policies-schema.js'
import type { AnomalyRecord } from '../anomalies.js'
import { formatMs } from './forecast-pressure.js'
import type { Desired, LimitPolicy, PolicyMode, PolicySignal } from './policy.js'

interface ClientState {
  sinceMs: number
  lastOpenMs: number
  anomaly: AnomalyRecord
}

const round = (x: number) => Math.round(x * 1000) / 1000

export class AbusiveClients implements LimitPolicy {
  readonly name = 'abusive-clients'
  readonly mode: PolicyMode
  readonly ttlMs: number
  readonly #cfg: AbusiveClientsConfig
  readonly #exempt: ReadonlySet<string>
  /** open client anomalies by anomaly id */
  readonly #open = new Map<string, AnomalyRecord>()
  readonly #limited = new Map<string, ClientState>()
  readonly #skipped = new Set<string>()

  constructor(cfg: AbusiveClientsConfig) {
    this.#cfg = cfg
    this.mode = cfg.mode
    this.ttlMs = cfg.ttlMs
    this.#exempt = new Set(cfg.exempt)
  }

  /** flagged clients (anomalies) left alone because `maxClients` were already limited */
  get skipped(): number {
    return this.#skipped.size
  }

  observe(signal: PolicySignal, nowMs: number): void {
    if (signal.kind === 'anomaly.opened') {
      const a = signal.anomaly
      if (a.level === 'client' && !this.#exempt.has(clientOf(a))) this.#open.set(a.id, a)
    } else if (signal.kind === 'anomaly.resolved') {
      const a = this.#open.get(signal.id)
      if (a === undefined) return
      this.#open.delete(signal.id)
      const st = this.#limited.get(clientOf(a))
      if (st !== undefined) st.lastOpenMs = nowMs
    }
  }

  evaluate(nowMs: number): Desired[] {
    const open = new Map<string, AnomalyRecord>()
    for (const a of this.#open.values()) open.set(clientOf(a), a)
    const out: Desired[] = []
    for (const [client, a] of open) {
      let st = this.#limited.get(client)
      if (st === undefined) {
        if (this.#limited.size >= this.#cfg.maxClients) {
          this.#skipped.add(a.id)
          continue
        }
        st = { sinceMs: nowMs, lastOpenMs: nowMs, anomaly: a }
        this.#limited.set(client, st)
      }
      st.lastOpenMs = nowMs
      st.anomaly = a
    }
    const hold = this.#cfg.holdMs
    for (const [client, st] of this.#limited) {
      const flagged = open.has(client)
      const lift = !flagged && nowMs - st.lastOpenMs >= hold && nowMs - st.sinceMs >= hold
      if (lift) this.#limited.delete(client)
      const top = st.anomaly.children[0]
      const stands =
        top !== undefined ? fmtAgainstTypical(top.key, top.observed, top.expected) : 'unusual traffic'
      out.push({
        target: `client:${client}`,
        entries: lift ? {} : { [`clients.${client}`]: this.#cfg.multiplier },
        state: lift ? 'normal' : 'limited',
        reason: flagged
          ? `client ${client} stands out among its peers: ${stands}, score ${round(st.anomaly.score)}: its limit ×${this.#cfg.multiplier} on every service`
          : lift
            ? `client ${client} no longer stands out for ${formatMs(hold)}: limit lifted`
            : `client ${client} no longer stands out; its limit is held until ${formatMs(hold)} have passed`,
        evidence: {
          client,
          anomaly: {
            id: st.anomaly.id,
            openedAtMs: st.anomaly.openedAtMs,
            score: st.anomaly.score,
            features: st.anomaly.children.map((c) => ({
              feature: c.key,
              observed: c.observed,
              typical: c.expected,
              share: c.share,
            })),
          },
        },
      })
    }
    return out
  }
}

function clientOf(a: AnomalyRecord): string {
  return a.key.startsWith('client:') ? a.key.slice('client:'.length) : a.key
}
