/** Rate limits: tiers and their use, throttling by tier and route class, multipliers and why, heavy clients. */
import { num, prose, Table } from '../components/table.js'
import { Badge, Empty, Meter, Panel } from '../components/ui.js'
import { defensiveMode } from '../lib/defensive.js'
import { fmtAgo, fmtNum, fmtPct, fmtTime, localTimes, readableKeys } from '../lib/format.js'
import { useLive, useNow } from '../lib/hooks.js'
import { liveStore } from '../lib/live.js'
import type { Anomaly, ClientsLive, DecisionTotal, LimitsLive } from '../lib/types.js'
import {
  abusiveVerdict,
  ANSWERED_5XX_TITLE,
  byTierAndClass,
  limiterElsewhere,
  servedLatency,
  THROTTLED_RATE_TITLE,
} from './limits-rows.js'

/** Snapshots of the decision counters, to show rates over the last ~10 s. */
const history: Array<{ t: number; totals: Map<string, number> }> = []
liveStore.onEvent((ev) => {
  const d = ev.set.decisions as DecisionTotal[] | undefined
  if (d === undefined) return
  history.push({
    t: ev.t,
    totals: new Map(d.map((x) => [`${x.tier}\u0000${x.class}\u0000${x.outcome}`, x.total])),
  })
  while (history.length > 2 && history[history.length - 1].t - history[0].t > 12_000) history.shift()
})

/** Decisions per second over the snapshots held, by `tier\0class\0outcome`; null until two are. */
function rates(): ((id: string) => number) | null {
  if (history.length < 2) return null
  const a = history[0]
  const b = history[history.length - 1]
  const dt = (b.t - a.t) / 1000
  if (dt <= 0) return null
  return (id) => ((b.totals.get(id) ?? 0) - (a.totals.get(id) ?? 0)) / dt
}

export function LimitsPage(props: { mode: string }) {
  const store = useLive()
  const elsewhere = limiterElsewhere(props.mode)
  const now = useNow(5_000)
  const limits = store.value<LimitsLive>('limits')
  const clients = store.value<ClientsLive>('clients')
  const decisions = store.value<DecisionTotal[]>('decisions') ?? []
  const flagged = new Map(
    store
      .items<Anomaly>('anomalies')
      .filter((a) => a.level === 'client')
      .map((a) => [a.key.slice('client:'.length), a]),
  )
  if (limits === undefined)
    return <Empty>Rate limiting is not enabled in this process (limits.enabled).</Empty>
  const c = limits.controls
  const rows = byTierAndClass(decisions, rates())
  const tierUse = new Map<string, { rate: number; refused: number }>()
  for (const r of rows) {
    // unknown rates (null) leave the tier out: its cells read "–", not 0
    if (r.allowedRate === null || r.refusedRate === null) continue
    const u = tierUse.get(r.tier) ?? { rate: 0, refused: 0 }
    u.rate += r.allowedRate
    u.refused += r.refusedRate
    tierUse.set(r.tier, u)
  }
  // every multiplier, global or scoped to a service, with who set it, why and until when
  const multipliers = [
    ...(['tiers', 'classes', 'clients'] as const).flatMap((g) =>
      Object.entries(c[g]).map(([name, m]) => ({
        group: g,
        name,
        m,
        service: null as string | null,
        path: `${g}.${name}`,
      })),
    ),
    ...Object.entries(c.services ?? {}).flatMap(([service, sc]) =>
      (['tiers', 'classes'] as const).flatMap((g) =>
        Object.entries(sc[g]).map(([name, m]) => ({
          group: g,
          name,
          m,
          service,
          path: `services.${service}.${g}.${name}`,
        })),
      ),
    ),
  ].map((x) => ({ ...x, entry: c.entries?.[x.path] }))
  const defensive = defensiveMode(c)
  const scopedDefensive = defensive.services
  const defensiveOn = defensive.global || scopedDefensive.length > 0
  // the document's reason and actor are its last change's, which may be about a client's limit:
  // beside "defensive mode ON" they read as why it is on, so it gets its own entry's
  const why = defensiveOn ? defensive.reason : c.reason
  const by = defensiveOn ? defensive.actor : c.actor
  const at = defensiveOn ? defensive.setAt : c.updatedAt
  const expires = defensiveOn
    ? defensive.expiresAt !== ''
      ? defensive.expiresAt
      : defensive.global
        ? c.expiresAt
        : undefined
    : undefined
  return (
    <>
      <Panel
        title="Defensive mode and controls"
        right={
          c.defensive ? (
            <Badge tone="warn">defensive mode ON</Badge>
          ) : scopedDefensive.length > 0 ? (
            <Badge tone="warn">defensive mode ON for {scopedDefensive.join(', ')}</Badge>
          ) : (
            <Badge tone="ok">defensive mode off</Badge>
          )
        }
      >
        <dl class="kv">
          <dt>{defensiveOn ? 'Why' : 'Last change'}</dt>
          <dd id="controls-why">
            {why !== '' ? (
              readableKeys(localTimes(why))
            ) : (
              // nobody has changed anything yet: "no reason given" would read as a change without one
              <span class="muted">
                {by === '' && !defensiveOn ? 'as configured: no change made yet' : 'no reason given'}
              </span>
            )}
          </dd>
          <dt>{defensiveOn ? 'Set by' : 'By'}</dt>
          <dd>
            {by !== '' ? by : '–'} {at !== '' && <span class="muted">at {fmtTime(Date.parse(at))}</span>}
          </dd>
          {scopedDefensive.length > 0 && (
            <>
              <dt>Defensive on</dt>
              <dd>
                <Badge tone="warn">{scopedDefensive.join(', ')}</Badge>
              </dd>
            </>
          )}
          {expires !== undefined && expires !== null && (
            <>
              <dt>Expires</dt>
              <dd>{fmtAgo(typeof expires === 'number' ? expires : Date.parse(expires), now)}</dd>
            </>
          )}
          <dt>Limit store</dt>
          <dd>
            {limits.fallback.store}{' '}
            {limits.fallback.active ? (
              <Badge tone="bad">
                fallback: {limits.fallback.policy} ({limits.fallback.reason})
              </Badge>
            ) : (
              <Badge tone="ok">reachable</Badge>
            )}
          </dd>
        </dl>
        <h3 style={{ fontSize: '14px', margin: '12px 0 6px' }}>Multipliers in force</h3>
        <Table
          columns={['Applies to', num('Multiplier'), 'Effect', prose('Why, who'), 'Expires']}
          rows={multipliers}
          empty="None: every limit is as configured."
          row={(x) => (
            <tr key={`${x.group}/${x.name}`}>
              <td>
                {x.group === 'tiers' ? 'tier' : x.group === 'classes' ? 'route class' : 'client'}{' '}
                <strong>{x.name}</strong>
                {x.service !== null && <span class="muted"> on {x.service}</span>}
              </td>
              <td class="num">×{fmtNum(x.m)}</td>
              <td>
                {x.m < 1 ? (
                  <Badge tone="warn">tightened</Badge>
                ) : x.m > 1 ? (
                  <Badge tone="info">loosened</Badge>
                ) : (
                  <Badge tone="muted">unchanged</Badge>
                )}
              </td>
              <td class="small">
                {x.entry !== undefined ? `${x.entry.reason || 'no reason given'} (${x.entry.actor})` : '–'}
              </td>
              <td class="small when">
                {x.entry?.expiresAt !== undefined
                  ? fmtAgo(Date.parse(x.entry.expiresAt), now)
                  : 'until removed'}
              </td>
            </tr>
          )}
        />
      </Panel>
      <Panel title="Tiers: limit per client and use">
        <Table
          columns={[
            'Tier',
            num('Rank'),
            num('Rate / client'),
            num('Burst'),
            num('Multiplier'),
            num('Admitted now'),
            num('Throttled now'),
            {
              label: 'Emptiest bucket (tokens left)',
              title:
                'The client of the tier with the fewest tokens left: at 0% its next request is throttled',
            },
          ]}
          rows={Object.entries(limits.tiers)}
          row={([name, t]) => {
            const m = c.tiers[name] ?? 1
            const u = tierUse.get(name)
            const inTier = (clients?.clients ?? []).filter((x) => x.tier === name)
            const lowest = inTier.length > 0 ? Math.min(...inTier.map((x) => x.bucketFill)) : null
            return (
              <tr key={name}>
                <th scope="row">{name}</th>
                <td class="num">{t.rank}</td>
                <td class="num">{fmtNum(t.ratePerSec * m)} req/s</td>
                <td class="num">{fmtNum(t.burst * m)}</td>
                <td class="num">{m === 1 ? '–' : `×${fmtNum(m)}`}</td>
                <td class="num" title={elsewhere?.decisions}>
                  {u ? `${fmtNum(u.rate)} req/s` : '–'}
                </td>
                <td class="num" title={elsewhere?.decisions}>
                  {u ? `${fmtNum(u.refused)} req/s` : '–'}
                </td>
                <td>
                  {lowest === null ? (
                    <span class="muted small" title={elsewhere?.clients}>
                      {/* a control plane before the gateways' first merged window knows of no window yet */}
                      {elsewhere !== null && (clients === undefined || clients === null)
                        ? 'no merged window yet'
                        : 'no clients this window'}
                    </span>
                  ) : (
                    <Meter
                      value={lowest}
                      lowBelow={0.2}
                      label={`${name}: the emptiest bucket has ${Math.round(lowest * 100)}% of its tokens left`}
                    />
                  )}
                </td>
              </tr>
            )
          }}
        />
      </Panel>
      <Panel title="Throttling by tier and route class">
        <Table
          columns={[
            'Tier',
            'Route class',
            num('Admitted/s'),
            { ...num('Throttled/s'), title: THROTTLED_RATE_TITLE },
            num('Throttled since start'),
            'By limit',
          ]}
          rows={rows}
          empty={elsewhere?.decisions ?? 'No limiter decisions yet.'}
          row={(r) => (
            <tr key={`${r.tier}/${r.cls}`}>
              <th scope="row">{r.tier}</th>
              <td>{r.cls}</td>
              <td class="num">{fmtNum(r.allowedRate)}</td>
              <td class="num" title={r.refusedRate === null ? THROTTLED_RATE_TITLE : undefined}>
                {r.refusedRate !== null && r.refusedRate > 0 ? (
                  <Badge tone="warn">{fmtNum(r.refusedRate)}</Badge>
                ) : (
                  fmtNum(r.refusedRate)
                )}
              </td>
              <td class="num">
                {fmtNum(r.refused)}{' '}
                <span class="muted small">({fmtPct(r.refused / Math.max(1, r.refused + r.allowed))})</span>
              </td>
              <td class="small">
                {[...r.reasons]
                  .filter(([, n]) => n > 0)
                  .map(([k, n]) => `${k} ${fmtNum(n)}`)
                  .join(' · ') || '–'}
              </td>
            </tr>
          )}
        />
      </Panel>
      <Panel
        title="Heaviest clients"
        right={
          clients !== undefined && (
            <span class="small muted">
              window from {fmtTime(clients.windowStartMs)}, {clients.windowMs / 1000}s
              {clients.gateways !== undefined &&
                `, merged from ${clients.gateways} gateway${clients.gateways === 1 ? '' : 's'}`}
            </span>
          )
        }
      >
        <Table
          columns={[
            'Client',
            'Tier',
            num('Requests'),
            num('Throttled'),
            { ...num('5xx/429 answers'), title: ANSWERED_5XX_TITLE },
            {
              ...num('Mean latency'),
              title:
                'Over the responses that finished in the window: none served when every request was throttled, none finished when the admitted ones were still running as it closed',
            },
            num('Routes'),
            'Bucket (tokens left)',
            'Verdict',
          ]}
          rows={clients?.clients ?? []}
          empty={elsewhere?.clients ?? 'No complete client window yet.'}
          row={(x) => {
            const a = flagged.get(x.clientId)
            return (
              <tr key={x.clientId}>
                <th scope="row" class="mono">
                  {x.clientId}
                </th>
                <td>{x.tier}</td>
                <td class="num">{fmtNum(x.requests)}</td>
                <td class="num">{fmtNum(x.refused)}</td>
                <td class="num">{fmtPct(x.errorRate)}</td>
                <td class="num">{servedLatency(x)}</td>
                <td class="num">{x.distinctRoutes}</td>
                <td>
                  <Meter
                    value={x.bucketFill}
                    lowBelow={0.2}
                    label={`${x.clientId}: ${Math.round(x.bucketFill * 100)}% of the bucket left`}
                  />
                </td>
                <td>
                  {a !== undefined ? (
                    <Badge tone="bad" title={abusiveVerdict(a).title}>
                      {abusiveVerdict(a).text}
                    </Badge>
                  ) : (
                    <Badge tone="ok">normal</Badge>
                  )}
                </td>
              </tr>
            )
          }}
        />
      </Panel>
    </>
  )
}
