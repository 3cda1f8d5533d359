/** A refused call to the admin API, as people read it: the server's problem+json, or what it said instead. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly fix: string
  readonly problems: readonly string[]
  constructor(status: number, body: Record<string, unknown> | null, fallback: string) {
    // problem+json says `message`; an action the server ran and recorded as failed (a scale the
    // actuator refused, 502) answers its record, whose `detail` says why
    const message =
      typeof body?.message === 'string'
        ? body.message
        : typeof body?.detail === 'string' && body.detail !== ''
          ? `${fallback}: ${body.detail}`
          : fallback
    super(message)
    this.status = status
    this.code = typeof body?.code === 'string' ? body.code : `HTTP_${status}`
    this.fix = typeof body?.fix === 'string' ? body.fix : ''
    this.problems = Array.isArray(body?.problems) ? (body.problems as unknown[]).map(String) : []
  }
}
