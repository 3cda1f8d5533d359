/**
 * @module What sinks send: one JSON view of an alert notification (webhook, JSONL file, stdout),
 * a Slack message, and Alertmanager v2 alerts. Every value travels as JSON (escaped by
 * JSON.stringify) or, in Slack text, with `&`, `<` and `>` escaped as Slack requires; nothing from
 * a label or a series name can break out of its field.
 */
import type { Alert, Notification } from './types.js'

/** One alert in a notification (webhook `alerts[]`, one JSONL line). */
export interface AlertView {
  /** the action id: the same notification retried or re-sent after a failover has the same id */
  id: string
  event: Notification['event']
  status: 'firing' | 'resolved'
  fingerprint: string
  rule: string
  kind: Alert['kind']
  severity: Alert['severity']
  labels: Record<string, string>
  summary: string
  series: string
  startsAt: string
  endsAt: string | null
  acknowledged: boolean
  evidence: Alert['evidence']
  links: Alert['evidence']['links']
  incident: string | null
  /** a member of the incident that pages for itself: more severe than its head */
  escalated: boolean
  context: Record<string, unknown>
  fencingToken: number | null
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

export function alertView(n: Notification): AlertView {
  const a = n.alert
  const resolved = n.event === 'resolved'
  return {
    id: n.id,
    event: n.event,
    status: resolved ? 'resolved' : 'firing',
    fingerprint: a.fingerprint,
    rule: a.rule,
    kind: a.kind,
    severity: a.severity,
    labels: a.labels,
    summary: resolved ? `resolved: ${a.latest.summary}` : a.evidence.summary,
    series: a.key,
    startsAt: iso(a.firingAtMs ?? a.activeAtMs) as string,
    endsAt: resolved ? iso(a.resolvedAtMs) : null,
    acknowledged: a.ack !== null,
    evidence: a.evidence,
    links: a.evidence.links,
    incident: a.incident,
    escalated: a.escalated === true,
    context: a.context,
    fencingToken: n.fencingToken,
  }
}

/**
 * The one-line summaries enrichers and the correlator put in `context` (`impact`, `rootCause`,
 * `correlated`: any entry with a string `summary`), in order: what Slack shows under the evidence
 * and Alertmanager gets as annotations.
 */
export function contextSummaries(context: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = []
  for (const [k, v] of Object.entries(context)) {
    const summary = v !== null && typeof v === 'object' ? (v as { summary?: unknown }).summary : undefined
    if (typeof summary === 'string' && summary !== '') out.push([k, summary])
  }
  return out
}

/** The generic webhook body: Alertmanager-webhook-like, with Vigil's evidence per alert. */
export interface WebhookBody {
  version: '1'
  receiver: string
  status: 'firing' | 'resolved'
  groupKey: string
  groupLabels: { service: string; env: string }
  fencingToken: number | null
  alerts: AlertView[]
}

export function webhookBody(receiver: string, batch: readonly Notification[]): WebhookBody {
  const alerts = batch.map(alertView)
  const [service = '*', env = '*'] = (batch[0]?.group ?? '*|*').split('|')
  return {
    version: '1',
    receiver,
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    groupKey: batch[0]?.group ?? '',
    groupLabels: { service, env },
    fencingToken: batch[0]?.fencingToken ?? null,
    alerts,
  }
}

/** Slack requires these three escaped in message text (mrkdwn). */
export function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** A Slack-compatible incoming-webhook message: one line per alert with its evidence and links. */
export function slackBody(batch: readonly Notification[]): { text: string } {
  const lines = batch.map((n) => {
    const v = alertView(n)
    const icon =
      v.status === 'resolved'
        ? ':white_check_mark:'
        : v.severity === 'critical'
          ? ':rotating_light:'
          : ':warning:'
    const head = `${icon} *[${v.status.toUpperCase()}${n.event === 'repeat' ? ', repeated' : ''}] ${slackEscape(v.rule)}* on \`${slackEscape(v.series)}\``
    const link = (url: string, label: string) => `<${slackEscape(url)}|${label}>`
    const links = [link(v.links.points, 'points'), link(v.links.alert, 'alert')]
    const context =
      v.status === 'firing' ? contextSummaries(v.context).map(([, t]) => `${slackEscape(t)}\n`) : []
    return `${head}\n${slackEscape(v.summary)}\n${context.join('')}${links.join(' · ')}`
  })
  return { text: lines.join('\n\n') }
}

/** One alert in Alertmanager's v2 API (`POST /api/v2/alerts`, postableAlerts). */
export interface AlertmanagerAlert {
  labels: Record<string, string>
  annotations: Record<string, string>
  startsAt: string
  endsAt?: string
  generatorURL: string
}

/** `endsAt` in the future keeps a firing alert alive in Alertmanager until the next re-send. */
export function alertmanagerAlert(n: Notification, endsAtMs: number | null): AlertmanagerAlert {
  const v = alertView(n)
  const out: AlertmanagerAlert = {
    labels: v.labels,
    annotations: {
      summary: v.summary,
      series: v.series,
      fingerprint: v.fingerprint,
      evidence: JSON.stringify(v.evidence),
      ...(v.incident !== null ? { incident: v.incident } : {}),
      ...(v.escalated ? { escalated: 'true' } : {}),
      ...Object.fromEntries(contextSummaries(v.context)),
    },
    startsAt: v.startsAt,
    generatorURL: v.links.alert,
  }
  const ends = v.status === 'resolved' ? n.alert.resolvedAtMs : endsAtMs
  if (ends !== null) out.endsAt = new Date(ends).toISOString()
  return out
}
