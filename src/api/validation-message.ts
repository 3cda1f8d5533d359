/**
 * @module Fastify's schema refusals (Ajv: "querystring/limit must be string") rephrased for the
 * person who sent the request: the parameter or field by its own name, and what to send instead.
 */
import type { FastifyError, FastifyRequest } from 'fastify'
import { closestKey } from '../config/index.js'
import { VGL_ERR_API_BAD_REQUEST, type VigilError } from '../errors.js'

type AjvError = NonNullable<FastifyError['validation']>[number]

/** `/a/0/b` (Ajv's JSON pointer) as `a[0].b`; empty for the whole part. */
function fieldOf(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((out, p) => (/^\d+$/.test(p) ? `${out}[${p}]` : out === '' ? p : `${out}.${p}`), '')
}

/**
 * The 400 for a request its route's schema refused. A query parameter given more than once
 * (`limit=5&limit=6`) reaches the schema as a list, which Ajv reports as "must be string": say
 * that it was repeated, since every parameter of the admin API takes one value.
 */
export function validationProblem(err: FastifyError, req: FastifyRequest): VigilError {
  const first: AjvError | undefined = err.validation?.[0]
  const where = err.validationContext
  if (first === undefined) return VGL_ERR_API_BAD_REQUEST(err.message)
  const name =
    fieldOf(first.instancePath) ||
    String(first.params['missingProperty'] ?? first.params['additionalProperty'] ?? '')
  if (where === 'querystring' && name !== '') {
    const value = (req.query as Record<string, unknown> | null)?.[name]
    if (Array.isArray(value)) {
      return Object.assign(
        VGL_ERR_API_BAD_REQUEST(
          `${name}: query parameter given ${value.length} times (${value.map((v) => `${name}=${String(v)}`).join('&')}); it takes one value`,
        ),
        { fix: `send ${name} once, e.g. ${name}=${String(value[0])}` },
      )
    }
  }
  if (first.keyword === 'required') return VGL_ERR_API_BAD_REQUEST(`${name}: missing; add it`)
  if (first.keyword === 'additionalProperties')
    return VGL_ERR_API_BAD_REQUEST(
      `${name}: unknown ${where === 'querystring' ? 'parameter' : 'field'}; remove it`,
    )
  const part = where === 'querystring' ? 'query parameter ' : ''
  return VGL_ERR_API_BAD_REQUEST(
    name === ''
      ? `${where ?? 'request'}: ${first.message ?? 'is invalid'}`
      : `${part}${name}: ${first.message ?? 'is invalid'}`,
  )
}

/**
 * The 400 for a query parameter the route does not take, or null. Ajv lets unknown parameters
 * through, and a filter misspelt (`sevice=orders`) would answer everything unfiltered as if it
 * had matched. Only routes whose schema lists their parameters are checked.
 */
export function unknownQueryProblem(req: FastifyRequest): VigilError | null {
  const schema = req.routeOptions.schema?.querystring as { properties?: Record<string, unknown> } | undefined
  const known = schema?.properties !== undefined ? Object.keys(schema.properties) : null
  if (known === null) return null
  const given = Object.keys((req.query as Record<string, unknown> | null) ?? {})
  const name = given.find((k) => !known.includes(k))
  if (name === undefined) return null
  const route = `${req.method} ${req.url.split('?')[0]}`
  const meant = closestKey(name, known)
  const takes = known.length > 0 ? `it takes ${known.join(', ')}` : 'it takes no query parameters'
  return Object.assign(
    VGL_ERR_API_BAD_REQUEST(
      `${name}: not a query parameter of ${route}${meant !== undefined ? `; did you mean "${meant}"?` : ''} (${takes})`,
    ),
    { fix: meant !== undefined ? `send ${meant}= instead of ${name}=` : `remove ${name}=; ${takes}` },
  )
}
