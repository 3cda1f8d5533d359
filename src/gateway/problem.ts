/**
 * @module Vigil's own error responses as RFC 9457 problem details (application/problem+json),
 * each naming its VGL_ERR_* code and the request id.
 */
import type { ServerResponse } from 'node:http'
import type { ErrorFactory } from '../errors.js'

/** Writes a problem+json response. `extra` headers are [name, value] pairs (e.g. RateLimit-*). */
export function writeProblem(
  res: ServerResponse,
  def: ErrorFactory,
  title: string,
  detail: string,
  requestId: string,
  extraHeaders: ReadonlyArray<readonly [string, string]> | null,
  fields: Readonly<Record<string, unknown>> | null,
  close: boolean,
): void {
  const status = def.statusCode
  const body = JSON.stringify({
    type: `urn:vigil:error:${def.code}`,
    title,
    status,
    detail,
    code: def.code,
    ...fields,
    requestId,
  })
  if (res.headersSent) {
    res.destroy()
    return
  }
  const headers: string[] = [
    'content-type',
    'application/problem+json',
    'content-length',
    String(Buffer.byteLength(body)),
    'x-request-id',
    requestId,
    'cache-control',
    'no-store',
  ]
  if (extraHeaders !== null) for (const [k, v] of extraHeaders) headers.push(k, v)
  if (close) headers.push('connection', 'close')
  res.writeHead(status, headers)
  res.end(body)
}
