/** Audit: every change made to the running system, by whom, when, before and after, and why. */
import type { ActivityEntry } from '../../api/activity.js'
import type { Session } from '../app.js'
import { prose, Table } from '../components/table.js'
import { Panel, Problem } from '../components/ui.js'
import { changedFields, fmtWhen, localTimes, readableKeys } from '../lib/format.js'
import { useApi, useLive } from '../lib/hooks.js'
import type { AuditEvent } from '../lib/types.js'

type AuditAnswer = AuditEvent[] | { events?: AuditEvent[]; entries?: AuditEvent[]; items?: AuditEvent[] }

function eventsOf(a: AuditAnswer | null): AuditEvent[] | null {
  if (a === null) return null
  if (Array.isArray(a)) return a
  return a.events ?? a.entries ?? a.items ?? []
}

/** The first few changed fields, the rest one click away. */
function ChangedFields(props: { before: unknown; after: unknown }) {
  const lines = changedFields(props.before, props.after).map((l) => localTimes(l))
  const shown = 6
  return (
    <>
      {lines.slice(0, shown).map((l, i) => (
        <div key={i}>{l}</div>
      ))}
      {lines.length > shown && (
        <details>
          <summary>{lines.length - shown} more</summary>
          {lines.slice(shown).map((l, i) => (
            <div key={i}>{l}</div>
          ))}
        </details>
      )}
    </>
  )
}

export function AuditPage(props: { session: Session }) {
  const store = useLive()
  const hasAudit = props.session.features.includes('audit')
  const audit = useApi<AuditAnswer>(hasAudit ? '/api/audit?limit=200' : null, 10_000)
  const events = eventsOf(audit.data)
  const changes = store
    .items<ActivityEntry>('activity')
    // what happened to the system itself (anomalies, the store) is no change anybody made
    .filter((e) => !e.kind.startsWith('anomaly.') && !e.kind.startsWith('store.'))
    .sort((a, b) => b.atMs - a.atMs)
  if (!hasAudit)
    return (
      <Panel title="Changes since this process started">
        <p class="small muted">
          The full audit log is the JSONL file in the limits data directory (audit.jsonl); this list shows the
          changes this process has seen.
        </p>
        <Table
          columns={['Time', 'Who', 'What']}
          rows={changes}
          empty="No change yet."
          row={(e) => (
            <tr key={e.id}>
              <td class="when">{fmtWhen(e.atMs)}</td>
              <td>{e.actor}</td>
              <td>{readableKeys(localTimes(e.summary))}</td>
            </tr>
          )}
        />
      </Panel>
    )
  return (
    <Panel title="Audit log">
      <Problem error={audit.error} title="Audit log unavailable" />
      {events !== null && (
        <Table
          id="audit-table"
          columns={['Time', 'Who', 'What', 'Subject', prose('Why'), prose('Changed (before → after)')]}
          rows={[...events].sort((a, b) => b.atMs - a.atMs)}
          empty="No change recorded yet."
          row={(e) => (
            <tr key={e.id}>
              <td class="when" title={new Date(e.atMs).toISOString()}>
                {fmtWhen(e.atMs)}
              </td>
              <td>{e.actor}</td>
              <td class="mono">{e.kind}</td>
              <td>{e.subject}</td>
              <td>{e.reason ? readableKeys(localTimes(e.reason)) : <span class="muted">–</span>}</td>
              <td class="mono small">
                <ChangedFields before={e.before} after={e.after} />
              </td>
            </tr>
          )}
        />
      )}
    </Panel>
  )
}
