/**
 * @module Admin API request bodies checked with zod, each problem phrased as the config loader
 * phrases a config file's (src/config/messages.ts), with JSON in place of YAML.
 */
import type { z } from 'zod'
import { issueProblems, jsonIssueMessage } from '../config/index.js'
import type { VigilError } from '../errors.js'

/**
 * The body as `schema` parses it, or `badInput` thrown with every problem as `path: message`
 * (`body` names the body itself), joined by "; ".
 *
 * @example
 * parseBody(z.strictObject({ burst: z.number().positive() }), {}, VGL_ERR_LIMITS_BAD_INPUT)
 * // throws VGL_ERR_LIMITS_BAD_INPUT: "burst: missing; add it (a number)"
 */
export function parseBody<T>(
  schema: z.ZodType<T>,
  body: unknown,
  badInput: (message: string) => VigilError,
): T {
  const r = schema.safeParse(body ?? undefined, { reportInput: true, error: jsonIssueMessage })
  if (r.success) return r.data
  throw badInput(
    issueProblems(r.error, { root: 'body', schema })
      .map((p) => `${p.path}: ${p.message}`)
      .join('; '),
  )
}
