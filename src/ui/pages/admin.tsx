/**
 * Admin: tiers and keys, limit controls and defensive mode, config reload. Every form checks its
 * input before sending and shows the server's problem+json when it refuses; every change is
 * audited by the server (see the Audit page).
 */
import { useEffect, useState } from 'preact/hooks'
import type { Session } from '../app.js'
import { positive, Result, useAction } from '../components/forms.js'
import { Table } from '../components/table.js'
import { Badge, Empty, Panel, Problem } from '../components/ui.js'
import { api, ApiError } from '../lib/api.js'
import { defensiveMode } from '../lib/defensive.js'
import { fmtNum, localTimes, readableKeys } from '../lib/format.js'
import { useApi, useLive } from '../lib/hooks.js'
import type { Controls, KeyView, LimitsLive, TierState } from '../lib/types.js'
import { ScaleControls } from './scaling.js'

const NAME = /^[A-Za-z0-9_-]+$/
const CONTROLS = '/api/limits/controls'

/**
 * Writes the limit controls against the version just read. The controls are one resource that
 * policies change too (an adaptive tightening sets a client multiplier), so the ETag an earlier
 * write returned is often stale though nothing this form touches changed. `conflict` says, from
 * the fresh read, why the change no longer makes sense; a 412 (changed between the read and the
 * write) reads again.
 */
async function writeControls(
  write: { method: 'PUT' | 'DELETE'; body: Record<string, unknown> },
  conflict: (now: Controls) => string | null = () => null,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const why = conflict(await api<Controls>(CONTROLS))
    if (why !== null) throw new Error(why)
    try {
      await api(CONTROLS, write)
      return
    } catch (err) {
      if (attempt >= 3 || !(err instanceof ApiError) || err.status !== 412) throw err
    }
  }
}
const KEY_ID = /^[A-Za-z0-9._-]+$/

export function AdminPage(props: { session: Session }) {
  const store = useLive()
  const limits = store.value<LimitsLive>('limits')
  const enabled = props.session.features.includes('limits')
  return (
    <>
      {enabled && limits !== undefined ? (
        <>
          <DefensivePanel limits={limits} />
          <TiersPanel tiers={limits.tiers} />
          <KeysPanel tiers={Object.keys(limits.tiers)} />
          <MultipliersPanel limits={limits} />
        </>
      ) : (
        <Panel title="Rate limits">
          <Empty>Rate limiting is not enabled in this process (limits.enabled in the config).</Empty>
        </Panel>
      )}
      {props.session.features.includes('scale') && <ScaleControls />}
      <ReloadPanel reloads={props.session.features.includes('reload')} mode={props.session.mode} />
    </>
  )
}

function DefensivePanel(props: { limits: LimitsLive }) {
  const on = props.limits.controls.defensive
  // on for some services only (the anomaly-pressure policy's doing): not "off", though the switch
  // here is the one for every service
  const d = defensiveMode(props.limits.controls)
  const scoped = on ? [] : d.services
  const [reason, setReason] = useState('')
  const a = useAction()
  const toggle = () =>
    a.run(async () => {
      await writeControls(
        {
          method: 'PUT',
          body: {
            defensive: !on,
            reason: reason.trim() || `defensive mode ${on ? 'off' : 'on'} from the dashboard`,
          },
        },
        (now) =>
          now.defensive === on
            ? null
            : `defensive mode was turned ${now.defensive ? 'on' : 'off'} elsewhere meanwhile; nothing changed`,
      )
      setReason('')
      return `Defensive mode is ${on ? 'off' : 'on'}.`
    })
  return (
    <Panel
      title="Defensive mode"
      right={
        on ? (
          <Badge tone="warn">ON</Badge>
        ) : scoped.length === 0 ? (
          <Badge tone="ok">off</Badge>
        ) : (
          <Badge tone="warn">ON for {scoped.join(', ')}</Badge>
        )
      }
    >
      <p class="small muted">
        Defensive mode scales every tier down by its defensive factor (limits.defensive) on every gateway
        within a second, and shows the reason in each 429.
      </p>
      {scoped.length > 0 && (
        <p class="small" id="defensive-scoped">
          On for {scoped.join(', ')} only
          {d.actor !== '' && <>, set by {d.actor}</>}
          {d.reason !== '' && <> ({readableKeys(localTimes(d.reason))})</>}. The button below turns it on for
          every service; it ends by itself{d.expiresAt !== '' ? ' when it expires' : ''}, or with Clear all
          controls under Limit multipliers.
        </p>
      )}
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault()
          void toggle()
        }}
      >
        <label>
          Reason (shown in 429 answers and the audit log)
          <input
            id="defensive-reason"
            size={40}
            maxLength={500}
            value={reason}
            onInput={(e) => setReason((e.target as HTMLInputElement).value)}
          />
        </label>
        <button
          id="defensive-toggle"
          type="submit"
          class={on ? '' : 'danger'}
          disabled={a.busy}
          aria-pressed={on}
        >
          {on ? 'Turn defensive mode off' : 'Turn defensive mode on'}
        </button>
      </form>
      <Result a={a} title="Not changed" />
    </Panel>
  )
}

const NEW_TIER: TierState = { ratePerSec: 10, burst: 20, rank: 0 }

function TiersPanel(props: { tiers: Record<string, TierState> }) {
  const names = Object.keys(props.tiers)
  return (
    <Panel title="Tiers">
      <Table
        columns={['Tier', 'Rate per second', 'Burst', 'Rank', 'Reason', { label: 'Save', skip: true }]}
        stacked
        // the last row adds a tier
        rows={[...Object.entries(props.tiers), ['', NEW_TIER] as const]}
        row={([name, t]) => <TierRow key={name} name={name} tier={t} names={names} />}
      />
    </Panel>
  )
}

const sameTier = (a: TierState, b: TierState): boolean =>
  a.ratePerSec === b.ratePerSec && a.burst === b.burst && a.rank === b.rank

/**
 * One tier's inputs. They follow the live tier (a change from the API, another operator or another
 * tab) until edited; a save names the version the row read in If-Match, so a tier changed
 * elsewhere since is refused instead of overwritten.
 */
function TierRow(props: { name: string; tier: TierState; names: readonly string[] }) {
  const isNew = props.name === ''
  const path = `/api/limits/tiers/${encodeURIComponent(props.name)}`
  // the values the inputs started from
  const [base, setBase] = useState(props.tier)
  const [name, setName] = useState(props.name)
  const [rate, setRate] = useState(String(props.tier.ratePerSec))
  const [burst, setBurst] = useState(String(props.tier.burst))
  const [rank, setRank] = useState(String(props.tier.rank))
  const [reason, setReason] = useState('')
  const [invalid, setInvalid] = useState<Record<string, string>>({})
  const a = useAction()
  // the tier's ETag, read again whenever the row takes new values
  const read = useApi<TierState>(isNew ? null : path)
  const adopt = (t: TierState) => {
    setBase(t)
    setRate(String(t.ratePerSec))
    setBurst(String(t.burst))
    setRank(String(t.rank))
  }
  const edited =
    rate !== String(base.ratePerSec) || burst !== String(base.burst) || rank !== String(base.rank)
  useEffect(() => {
    if (isNew || edited || sameTier(props.tier, base)) return
    adopt(props.tier)
    read.reload()
  }, [props.tier.ratePerSec, props.tier.burst, props.tier.rank])
  const id = isNew ? 'new' : props.name
  const save = (e: Event) => {
    e.preventDefault()
    const bad: Record<string, string> = {}
    if (!NAME.test(name)) bad.name = 'tier name: letters, digits, _ and -'
    else if (isNew && props.names.includes(name))
      bad.name = `tier ${name} exists already: change it in its row above`
    const r = positive(rate, 'rate per second')
    const b = positive(burst, 'burst')
    const k = positive(rank, 'rank', { integer: true, min: 0 })
    if (typeof r === 'string') bad.rate = r
    if (typeof b === 'string') bad.burst = b
    if (typeof k === 'string') bad.rank = k
    setInvalid(bad)
    if (Object.keys(bad).length > 0) return a.fail(Object.values(bad).join('; '))
    void a.run(async () => {
      const saved = { ratePerSec: r as number, burst: b as number, rank: k as number }
      try {
        await api(`/api/limits/tiers/${encodeURIComponent(name)}`, {
          method: 'PUT',
          body: { ...saved, ...(reason.trim() !== '' ? { reason: reason.trim() } : {}) },
          ...(isNew ? { ifNoneMatch: '*' as const } : {}),
        })
      } catch (err) {
        if (isNew || !(err instanceof ApiError) || err.status !== 412) throw err
        const now = await api<TierState>(path)
        adopt(now)
        throw new Error(
          `${name} was changed elsewhere while you edited it; it is now ${fmtNum(now.ratePerSec)} req/s, burst ${fmtNum(now.burst)}, rank ${now.rank} (shown above): make your change again`,
        )
      }
      setReason('')
      if (isNew) setName('')
      else setBase(saved)
      return `Tier ${name} saved: ${fmtNum(saved.ratePerSec)} req/s, burst ${fmtNum(saved.burst)}.`
    })
  }
  const formId = `tier-form-${id}`
  return (
    <>
      <tr>
        <th scope="row">
          {isNew ? (
            <input
              form={formId}
              aria-label="New tier name"
              placeholder="new tier"
              size={8}
              value={name}
              aria-invalid={invalid.name !== undefined}
              onInput={(e) => setName((e.target as HTMLInputElement).value)}
            />
          ) : (
            props.name
          )}
          <form id={formId} onSubmit={save} noValidate />
        </th>
        <td data-label="Rate per second">
          <input
            form={formId}
            id={`tier-${id}-rate`}
            aria-label={`${isNew ? 'new tier' : props.name} rate per second`}
            inputMode="decimal"
            size={7}
            value={rate}
            aria-invalid={invalid.rate !== undefined}
            onInput={(e) => setRate((e.target as HTMLInputElement).value)}
          />
        </td>
        <td data-label="Burst">
          <input
            form={formId}
            id={`tier-${id}-burst`}
            aria-label={`${isNew ? 'new tier' : props.name} burst`}
            inputMode="decimal"
            size={7}
            value={burst}
            aria-invalid={invalid.burst !== undefined}
            onInput={(e) => setBurst((e.target as HTMLInputElement).value)}
          />
        </td>
        <td data-label="Rank">
          <input
            form={formId}
            aria-label={`${isNew ? 'new tier' : props.name} rank`}
            inputMode="numeric"
            size={3}
            value={rank}
            aria-invalid={invalid.rank !== undefined}
            onInput={(e) => setRank((e.target as HTMLInputElement).value)}
          />
        </td>
        <td data-label="Reason">
          <input
            form={formId}
            aria-label={`${isNew ? 'new tier' : props.name} reason`}
            size={18}
            value={reason}
            onInput={(e) => setReason((e.target as HTMLInputElement).value)}
          />
        </td>
        <td>
          <button form={formId} id={`tier-${id}-save`} type="submit" class="primary" disabled={a.busy}>
            {isNew ? 'Add' : 'Save'}
          </button>
        </td>
      </tr>
      {(a.error !== null || a.done !== '') && (
        <tr>
          <td colSpan={6}>
            <Result a={a} title={`Tier ${name || 'new'} not saved`} />
          </td>
        </tr>
      )}
    </>
  )
}

function KeysPanel(props: { tiers: string[] }) {
  // read again now and then: keys created or revoked elsewhere show up
  const keys = useApi<KeyView[]>('/api/limits/keys', 10_000)
  const [id, setId] = useState('')
  const [tier, setTier] = useState(props.tiers[0] ?? 'STD')
  const [secret, setSecret] = useState<{ id: string; key: string } | null>(null)
  const create = useAction()
  const submit = (e: Event) => {
    e.preventDefault()
    const t = id.trim()
    if (t !== '' && !KEY_ID.test(t))
      return create.fail('key id: letters, digits, ".", "_" and "-" (or leave it empty for a generated one)')
    void create.run(async () => {
      const k = await api<KeyView & { key: string }>('/api/limits/keys', {
        method: 'POST',
        body: { tier, ...(t !== '' ? { id: t } : {}) },
      })
      setSecret({ id: k.id, key: k.key })
      setId('')
      keys.reload()
      return `Key ${k.id} created in tier ${k.tier}.`
    })
  }
  return (
    <Panel title="API keys">
      <form class="row" onSubmit={submit} noValidate aria-label="Create a key">
        <label>
          Key id (optional)
          <input
            id="key-new-id"
            value={id}
            placeholder="generated"
            onInput={(e) => setId((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Tier
          <select
            id="key-new-tier"
            value={tier}
            onChange={(e) => setTier((e.target as HTMLSelectElement).value)}
          >
            {props.tiers.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <button class="primary" type="submit" disabled={create.busy}>
          Create key
        </button>
      </form>
      <Result a={create} title="Key not created" />
      {secret !== null && (
        <div class="notice" role="status">
          The secret of <strong>{secret.id}</strong> is shown once; clients send it as <code>X-API-Key</code>:
          <div class="mono" style={{ userSelect: 'all', margin: '6px 0' }}>
            {secret.key}
          </div>
          <button type="button" onClick={() => void navigator.clipboard?.writeText(secret.key)}>
            Copy
          </button>{' '}
          <button type="button" onClick={() => setSecret(null)}>
            Done
          </button>
        </div>
      )}
      <Problem error={keys.error} title="Keys unavailable" />
      {keys.data !== null && (
        <Table
          columns={['Key id', 'Tier', 'Own limit', 'State', 'Actions']}
          stacked
          rows={keys.data}
          empty="No keys."
          row={(k) => <KeyRow key={k.id} k={k} tiers={props.tiers} onChange={keys.reload} />}
        />
      )}
    </Panel>
  )
}

function KeyRow(props: { k: KeyView; tiers: string[]; onChange: () => void }) {
  const { k } = props
  const [tier, setTier] = useState(k.tier)
  const [seen, setSeen] = useState(k.tier)
  // a tier changed elsewhere shows, unless this row's choice is being edited
  useEffect(() => {
    setTier((t) => (t === seen ? k.tier : t))
    setSeen(k.tier)
  }, [k.tier])
  const a = useAction()
  const safe = k.id.replace(/[^A-Za-z0-9_-]/g, '_')
  const change = () =>
    a.run(async () => {
      await api(`/api/limits/keys/${encodeURIComponent(k.id)}`, {
        method: 'PATCH',
        body: { tier },
        ifMatchOf: '/api/limits/keys',
      })
      props.onChange()
      return `${k.id} is now ${tier}.`
    })
  const revoke = () => {
    if (!confirm(`Revoke key ${k.id}? Its clients get 401 from now on.`)) return
    void a.run(async () => {
      await api(`/api/limits/keys/${encodeURIComponent(k.id)}`, {
        method: 'DELETE',
        body: { reason: 'revoked from the dashboard' },
        ifMatchOf: '/api/limits/keys',
      })
      props.onChange()
      return `${k.id} revoked.`
    })
  }
  return (
    <>
      <tr>
        <th scope="row" class="mono">
          {k.id}
        </th>
        <td data-label="Tier">
          <select
            id={`key-${safe}-tier`}
            aria-label={`Tier of ${k.id}`}
            value={tier}
            disabled={k.revoked}
            onChange={(e) => setTier((e.target as HTMLSelectElement).value)}
          >
            {props.tiers.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </td>
        <td class="small" data-label="Own limit">
          {k.ratePerSec !== undefined
            ? `${fmtNum(k.ratePerSec)} req/s, burst ${fmtNum(k.burst ?? 0)}`
            : 'tier limit'}
        </td>
        <td data-label="State">
          {k.revoked ? <Badge tone="bad">revoked</Badge> : <Badge tone="ok">active</Badge>}
        </td>
        {/* the flex row inside the cell: a flex td is no table cell, and its border broke off the row's */}
        <td>
          <div class="row">
            <button
              id={`key-${safe}-save`}
              type="button"
              onClick={() => void change()}
              disabled={a.busy || k.revoked || tier === k.tier}
            >
              Change tier
            </button>
            <button type="button" class="danger" onClick={revoke} disabled={a.busy || k.revoked}>
              Revoke
            </button>
          </div>
        </td>
      </tr>
      {(a.error !== null || a.done !== '') && (
        <tr>
          <td colSpan={5}>
            <Result a={a} title={`${k.id} not changed`} />
          </td>
        </tr>
      )}
    </>
  )
}

function MultipliersPanel(props: { limits: LimitsLive }) {
  const [group, setGroup] = useState<'tiers' | 'classes' | 'clients'>('tiers')
  const [name, setName] = useState('')
  const [mult, setMult] = useState('0.5')
  const [reason, setReason] = useState('')
  const [service, setService] = useState('')
  const [ttlMin, setTtlMin] = useState('')
  const a = useAction()
  const c = props.limits.controls
  const set = (e: Event) => {
    e.preventDefault()
    if (name.trim() === '')
      return a.fail(
        `name: which ${group === 'tiers' ? 'tier' : group === 'classes' ? 'route class' : 'client'}?`,
      )
    const m = positive(mult, 'multiplier')
    if (typeof m === 'string') return a.fail(`${m} (0.5 halves the limit, 2 doubles it)`)
    const ttl = ttlMin.trim() === '' ? null : positive(ttlMin, 'expires after (minutes)')
    if (typeof ttl === 'string') return a.fail(ttl)
    if (service.trim() !== '' && group === 'clients')
      return a.fail('a client multiplier applies everywhere: leave "only on service" empty')
    void a.run(async () => {
      await writeControls({
        method: 'PUT',
        body: {
          [group]: { [name.trim()]: m },
          ...(reason.trim() !== '' ? { reason: reason.trim() } : {}),
          ...(service.trim() !== '' ? { service: service.trim() } : {}),
          ...(ttl !== null ? { ttlMs: Math.round(ttl * 60_000) } : {}),
        },
      })
      return `${group === 'tiers' ? 'Tier' : group === 'classes' ? 'Class' : 'Client'} ${name.trim()} ×${m}.`
    })
  }
  const remove = (g: 'tiers' | 'classes' | 'clients', n: string) =>
    a.run(async () => {
      await writeControls({
        method: 'PUT',
        body: { [g]: { [n]: null }, reason: `multiplier on ${n} removed from the dashboard` },
      })
      return `Multiplier on ${n} removed.`
    })
  const clear = () => {
    if (!confirm('Remove every multiplier and turn defensive mode off?')) return
    void a.run(async () => {
      await writeControls({ method: 'DELETE', body: { reason: 'cleared from the dashboard' } })
      return 'Every limit is back to its configured value.'
    })
  }
  const all = (['tiers', 'classes', 'clients'] as const).flatMap((g) =>
    Object.entries(c[g]).map(([n, m]) => ({ g, n, m })),
  )
  return (
    <Panel
      title="Limit multipliers"
      right={
        <button type="button" class="danger" onClick={clear} disabled={a.busy}>
          Clear all controls
        </button>
      }
    >
      <form class="row" onSubmit={set} noValidate aria-label="Set a multiplier">
        <label>
          Applies to
          <select
            value={group}
            onChange={(e) => setGroup((e.target as HTMLSelectElement).value as typeof group)}
          >
            <option value="tiers">tier</option>
            <option value="classes">route class</option>
            <option value="clients">client</option>
          </select>
        </label>
        <label>
          Name
          <input
            value={name}
            list={`mult-names-${group}`}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
          <datalist id="mult-names-tiers">
            {Object.keys(props.limits.tiers).map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </label>
        <label>
          Multiplier
          <input
            inputMode="decimal"
            size={5}
            value={mult}
            onInput={(e) => setMult((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Only on service (optional)
          <input
            size={12}
            value={service}
            onInput={(e) => setService((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Expires after, minutes (optional)
          <input
            inputMode="decimal"
            size={5}
            value={ttlMin}
            onInput={(e) => setTtlMin((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          Reason
          <input size={28} value={reason} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
        </label>
        <button class="primary" type="submit" disabled={a.busy}>
          Set
        </button>
      </form>
      <Result a={a} title="Controls not changed" />
      {all.length === 0 ? (
        <Empty>No multiplier in force.</Empty>
      ) : (
        <ul>
          {all.map((x) => (
            <li key={`${x.g}/${x.n}`}>
              {x.g === 'tiers' ? 'tier' : x.g === 'classes' ? 'class' : 'client'} <strong>{x.n}</strong> ×
              {fmtNum(x.m)}{' '}
              <button
                type="button"
                onClick={() => void remove(x.g, x.n)}
                disabled={a.busy}
                aria-label={`Remove the multiplier on ${x.n}`}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </Panel>
  )
}

/**
 * Config reload, where this process can reload (the session's `reload` feature): `vigil control`
 * reads its config once, and a button there would only ever be refused.
 */
function ReloadPanel(props: { reloads: boolean; mode: string }) {
  const a = useAction()
  const reload = () =>
    a.run(async () => {
      const r = await api<{ ok: boolean; routes: number; changed?: string[]; restartRequired?: string[] }>(
        '/api/config/reload',
        { method: 'POST' },
      )
      const changed = r.changed?.length ?? 0
      const restart = r.restartRequired ?? []
      // a changed port or another start-time setting is in the file but not in force: say so here,
      // not only in the process log
      return (
        `Config reloaded: ${r.routes} routes, ${changed} field${changed === 1 ? '' : 's'} changed.` +
        (restart.length > 0 ? ` Needs a restart of Vigil to apply: ${restart.join(', ')}.` : '')
      )
    })
  if (!props.reloads)
    return (
      <Panel title="Configuration">
        <p class="small muted" id="config-no-reload">
          {props.mode === 'control' ? 'vigil control' : 'This process'} reads its config file once, at start:
          to apply a change, restart it. (A gateway reloads its own config with SIGHUP or its own admin API.)
        </p>
      </Panel>
    )
  return (
    <Panel title="Configuration">
      <p class="small muted">
        Re-reads the config file and swaps the route table; an invalid file is refused with every problem
        listed and the running config keeps serving.
      </p>
      <button id="config-reload" type="button" onClick={() => void reload()} disabled={a.busy}>
        Reload config
      </button>
      <Result a={a} title="Reload refused" />
    </Panel>
  )
}
