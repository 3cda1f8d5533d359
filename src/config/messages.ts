/**
 * @module Zod's own messages ("Invalid input: expected array, received string") rephrased for a
 * person editing YAML: what the field expected, what it got, and what to write instead. Applied
 * per parse, so a message a schema spells out itself (`'add at least one route'`) still wins.
 */
import type { z } from 'zod'

/** A wrong value as a message shows it, short, with the secrets of URLs hidden. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing'
  const json = (JSON.stringify(value) ?? String(value))
    .replace(/(\/\/[^/:@\s"]*:)[^@/\s"]*@/g, '$1***@')
    .replace(/([?&][^=&#\s"]+=)[^&#\s"]*/g, '$1***')
  return json.length > 60 ? `${json.slice(0, 57)}...` : json
}

const WHAT: Record<string, string> = {
  array: 'a list',
  object: 'a mapping (key: value lines)',
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
}

/** How to write a value of the expected type in YAML, given what was written. */
function howToWrite(expected: string, input: unknown): string {
  switch (expected) {
    case 'array':
      return typeof input === 'string'
        ? `write a list: [${input}] or one "- ${input}" line per item`
        : 'write a list: [a, b] or one "- item" line per item'
    case 'object':
      return 'write key: value lines indented below this key'
    case 'string':
      return input === null || typeof input === 'object'
        ? 'write a single value'
        : `quote it: "${String(input)}"`
    case 'int':
      return typeof input === 'number' && Number.isFinite(input)
        ? `write ${Math.floor(input)} or ${Math.ceil(input)}`
        : 'write digits without quotes, e.g. 3'
    case 'number':
      return 'write digits without quotes, e.g. 5 or 0.5'
    case 'boolean':
      return 'write true or false without quotes'
    default:
      return `write ${expected}`
  }
}

function sizeProblem(
  issue: z.core.$ZodRawIssue & { code: 'too_small' | 'too_big' },
  got: string,
): string | undefined {
  const min = issue.code === 'too_small'
  const limit = min
    ? (issue as { minimum: number | bigint }).minimum
    : (issue as { maximum: number | bigint }).maximum
  const open = issue.inclusive === false
  switch (issue.origin) {
    case 'number':
    case 'int':
    case 'bigint':
      if (min)
        return open
          ? `must be more than ${limit}, got ${got}; write a number above ${limit}`
          : `must be at least ${limit}, got ${got}; write ${limit} or more`
      return open
        ? `must be less than ${limit}, got ${got}; write a number below ${limit}`
        : `must be at most ${limit}, got ${got}; write ${limit} or less`
    case 'array':
    case 'set':
      return min
        ? `needs at least ${limit} item(s), got ${got}; add items`
        : `takes at most ${limit} item(s), got ${got}; remove items`
    case 'string':
      return min
        ? `needs at least ${limit} character(s), got ${got}`
        : `takes at most ${limit} character(s), got ${got}; shorten it`
    default:
      return undefined
  }
}

/**
 * The message for one zod issue, or undefined to keep zod's (custom checks phrase their own).
 * Pass as `safeParse(data, { error: configIssueMessage })`.
 */
export function configIssueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  const got = describeValue(issue.input)
  switch (issue.code) {
    case 'invalid_type': {
      const expected = String(issue.expected)
      const what = WHAT[expected] ?? expected
      if (issue.input === undefined) return `missing; add it (${what})`
      return `expected ${what}, got ${got}; ${howToWrite(expected, issue.input)}`
    }
    case 'too_small':
    case 'too_big':
      return sizeProblem(issue, got)
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${got}`
    case 'invalid_format':
      if (issue.format === 'regex')
        return `expected text matching ${String((issue as { pattern?: unknown }).pattern)}, got ${got}`
      if (issue.format === 'url') return `expected a URL such as http://host:port, got ${got}`
      return `expected ${issue.format}, got ${got}`
    case 'not_multiple_of':
      return `expected a multiple of ${String(issue.divisor)}, got ${got}`
    case 'invalid_union': {
      // a discriminated union (kind: ...) names its choices: say which, about the key itself
      const { discriminator, options } = issue as { discriminator?: unknown; options?: unknown }
      if (typeof discriminator === 'string' && Array.isArray(options)) {
        const input = issue.input as Record<string, unknown> | null | undefined
        const value = input !== null && typeof input === 'object' ? input[discriminator] : undefined
        return `expected one of ${options.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(value)}`
      }
      return `got ${got}, which is none of the forms this key accepts; see docs/config.md for it`
    }
    default:
      return undefined
  }
}
