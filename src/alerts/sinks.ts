/**
 * @module Alert sinks: where notifications go. A generic JSON webhook, a Slack-compatible
 * incoming webhook, Prometheus Alertmanager (v2 API), a JSONL file and stdout. A sink only sends
 * one batch (one group's notifications); queueing, retries and backoff are the dispatcher's
 * (src/alerts/dispatcher.ts). A sink's URL may hold a secret (a Slack webhook path, a token in
 * the query): only `describe` (origin and kind) ever reaches logs and the admin API.
 */
import { createHash } from 'node:crypto'
import { appendFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { request } from 'undici'
import type { AlertSinkConfig } from '../config/alerts-schema.js'
import { alertmanagerAlert, alertView, slackBody, webhookBody } from './payload.js'
import type { Notification } from './types.js'

/** A failed send; `retryable` is false for answers that will not change (4xx other than 408/429). */
export class SinkError extends Error {
  readonly retryable: boolean
  constructor(message: string, retryable: boolean) {
    super(message)
    this.name = 'SinkError'
    this.retryable = retryable
  }
}

export interface Sink {
  readonly name: string
  readonly kind: AlertSinkConfig['kind']
  /** where it sends, without secrets: `webhook https://hooks.example.com/…` */
  readonly describe: string
  /** sends one group's notifications; throws SinkError */
  send(batch: readonly Notification[]): Promise<void>
  close(): Promise<void>
}

/** `https://hooks.slack.com/…`: the origin only, so no path, query or credentials leak. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    return `${u.protocol}//${u.host}/…`
  } catch {
    return '(invalid URL)'
  }
}

async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string>,
  timeoutMs: number,
  redacted: string,
): Promise<void> {
  let res
  try {
    res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (err) {
    // transport errors name host:port at most; strip the URL anyway in case a client adds it
    throw new SinkError(`${redacted}: ${(err as Error).message.split(url).join(redacted)}`, true)
  }
  await res.body.dump().catch(() => {})
  const s = res.statusCode
  if (s >= 200 && s < 300) return
  throw new SinkError(`${redacted}: HTTP ${s}`, s >= 500 || s === 408 || s === 429)
}

/** An id for the batch: the same notifications retried carry the same key. */
function idempotencyKey(batch: readonly Notification[]): string {
  return createHash('sha256')
    .update(batch.map((n) => n.id).join('\n'))
    .digest('hex')
    .slice(0, 32)
}

class WebhookSink implements Sink {
  readonly kind = 'webhook' as const
  readonly describe: string
  readonly #redacted: string
  constructor(
    readonly name: string,
    readonly cfg: Extract<AlertSinkConfig, { kind: 'webhook' }>,
  ) {
    this.#redacted = redactUrl(cfg.url)
    this.describe = `webhook ${this.#redacted}`
  }
  send(batch: readonly Notification[]): Promise<void> {
    return postJson(
      this.cfg.url,
      webhookBody(this.name, batch),
      {
        ...this.cfg.headers,
        'idempotency-key': idempotencyKey(batch),
        'x-vigil-fencing-token': String(batch[0]?.fencingToken ?? ''),
      },
      this.cfg.timeoutMs,
      this.#redacted,
    )
  }
  async close(): Promise<void> {}
}

class SlackSink implements Sink {
  readonly kind = 'slack' as const
  readonly describe: string
  readonly #redacted: string
  constructor(
    readonly name: string,
    readonly cfg: Extract<AlertSinkConfig, { kind: 'slack' }>,
  ) {
    this.#redacted = redactUrl(cfg.url)
    this.describe = `slack ${this.#redacted}`
  }
  send(batch: readonly Notification[]): Promise<void> {
    return postJson(this.cfg.url, slackBody(batch), {}, this.cfg.timeoutMs, this.#redacted)
  }
  async close(): Promise<void> {}
}

/**
 * Alertmanager resolves an alert that is not re-sent before its `endsAt`, so firing alerts are
 * sent with `endsAt` = now + 4 × resendEveryMs and re-sent every resendEveryMs while they fire
 * (as Prometheus does). Re-sends are keepalives of an alert already sent, not new notifications.
 */
class AlertmanagerSink implements Sink {
  readonly kind = 'alertmanager' as const
  readonly describe: string
  readonly #redacted: string
  readonly #endpoint: string
  readonly #firing = new Map<string, Notification>()
  #timer: NodeJS.Timeout | null = null
  /** keepalive re-sends that failed (the next one retries) */
  resendErrors = 0
  constructor(
    readonly name: string,
    readonly cfg: Extract<AlertSinkConfig, { kind: 'alertmanager' }>,
  ) {
    this.#redacted = redactUrl(cfg.url)
    this.describe = `alertmanager ${this.#redacted}`
    this.#endpoint = `${cfg.url.replace(/\/+$/, '')}/api/v2/alerts`
  }
  #post(batch: readonly Notification[]): Promise<void> {
    const endsAt = Date.now() + 4 * this.cfg.resendEveryMs
    return postJson(
      this.#endpoint,
      batch.map((n) => alertmanagerAlert(n, endsAt)),
      {},
      this.cfg.timeoutMs,
      this.#redacted,
    )
  }
  async send(batch: readonly Notification[]): Promise<void> {
    await this.#post(batch)
    for (const n of batch)
      if (n.event === 'resolved') this.#firing.delete(n.alert.fingerprint)
      else this.#firing.set(n.alert.fingerprint, n)
    if (this.#firing.size > 0 && this.#timer === null) {
      this.#timer = setInterval(() => void this.#resend(), this.cfg.resendEveryMs)
      this.#timer.unref()
    }
  }
  async #resend(): Promise<void> {
    if (this.#firing.size === 0) {
      if (this.#timer !== null) clearInterval(this.#timer)
      this.#timer = null
      return
    }
    await this.#post([...this.#firing.values()]).catch(() => this.resendErrors++)
  }
  /** Keeps alive what another sink kept alive (a reload replaced that sink by this one). */
  adopt(from: AlertmanagerSink): void {
    const firing = [...from.#firing.values()]
    if (firing.length === 0) return
    for (const n of firing) this.#firing.set(n.alert.fingerprint, n)
    if (this.#timer === null) {
      this.#timer = setInterval(() => void this.#resend(), this.cfg.resendEveryMs)
      this.#timer.unref()
    }
  }
  /** Forgets an alert resolved or silenced without a notification (no more keepalives). */
  forget(fingerprint: string): void {
    this.#firing.delete(fingerprint)
  }
  async close(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }
}

class FileSink implements Sink {
  readonly kind = 'file' as const
  readonly describe: string
  #ready: Promise<void> | null = null
  constructor(
    readonly name: string,
    readonly cfg: Extract<AlertSinkConfig, { kind: 'file' }>,
  ) {
    this.describe = `file ${cfg.path}`
  }
  async send(batch: readonly Notification[]): Promise<void> {
    this.#ready ??= mkdir(dirname(this.cfg.path), { recursive: true }).then(() => {})
    const text = batch.map((n) => `${JSON.stringify({ receiver: this.name, ...alertView(n) })}\n`).join('')
    try {
      await this.#ready
      await appendFile(this.cfg.path, text, { mode: 0o600 })
    } catch (err) {
      this.#ready = null
      throw new SinkError(`${this.cfg.path}: ${(err as Error).message}`, true)
    }
  }
  async close(): Promise<void> {}
}

class StdoutSink implements Sink {
  readonly kind = 'stdout' as const
  readonly describe = 'stdout'
  constructor(readonly name: string) {}
  async send(batch: readonly Notification[]): Promise<void> {
    const text = batch.map((n) => `${JSON.stringify({ receiver: this.name, ...alertView(n) })}\n`).join('')
    await new Promise<void>((resolve, reject) =>
      process.stdout.write(text, (err) =>
        err ? reject(new SinkError(`stdout: ${err.message}`, true)) : resolve(),
      ),
    )
  }
  async close(): Promise<void> {}
}

/** The one place a sink is built from its config. */
export function createSink(cfg: AlertSinkConfig): Sink {
  switch (cfg.kind) {
    case 'webhook':
      return new WebhookSink(cfg.name, cfg)
    case 'slack':
      return new SlackSink(cfg.name, cfg)
    case 'alertmanager':
      return new AlertmanagerSink(cfg.name, cfg)
    case 'file':
      return new FileSink(cfg.name, cfg)
    case 'stdout':
      return new StdoutSink(cfg.name)
    default:
      return assertNever(cfg)
  }
}

/** For sinks that keep alerts alive (Alertmanager): drop one that will get no more notifications. */
export function forgetAlert(sink: Sink, fingerprint: string): void {
  if (sink instanceof AlertmanagerSink) sink.forget(fingerprint)
}

/**
 * A reload changed a sink's settings (its URL, headers): the new sink takes over the old one's
 * keepalives (Alertmanager), so alerts firing there are not left to expire.
 */
export function carryOver(from: Sink, to: Sink): void {
  if (from instanceof AlertmanagerSink && to instanceof AlertmanagerSink) to.adopt(from)
}

function assertNever(x: never): never {
  throw new Error(`unknown sink kind ${JSON.stringify(x)}`)
}
