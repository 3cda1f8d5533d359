/**
 * @module Zod's own messages ("Invalid input: expected array, received string") rephrased for a
 * person: what the field expected, what it got, and what to write instead, in YAML for the config
 * file or in JSON for an admin API body. Applied per parse, so a message a schema spells out itself
 * (`'add at least one route'`) still wins.
 */
import type { z } from 'zod'
import { closestKey, knownKeysAt } from './key-hint.js'
import { unitHint } from './unit-hint.js'

/** One problem, already phrased for a person: `path: message`. */
export interface ConfigProblem {
  path: string
  message: string
}

/** The language the reader writes values in: the config file's YAML or an API body's JSON. */
export type Syntax = 'yaml' | 'json'

/**
 * The message for a name that refers to nothing configured: it lists the known names (and `more`:
 * where others are added) and names the known one it was probably meant to be, since such a name
 * is almost always a typo that would otherwise match nothing, silently.
 * @example
 * unknownName('service', 'ordrs', ['orders', 'users'])
 * // 'unknown service "ordrs" (known: orders, users); did you mean "orders"?'
 */
export function unknownName(what: string, name: string, known: readonly string[], more?: string): string {
  const meant = closestKey(name, known)
  const listed = `${known.length > 0 ? known.join(', ') : 'none'}${more !== undefined ? `; ${more}` : ''}`
  return `unknown ${what} "${name}" (known: ${listed})${meant !== undefined ? `; did you mean "${meant}"?` : ''}`
}

/** A wrong value as a message shows it, short, with the secrets of URLs hidden. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing'
  // JSON.stringify writes null for these (a JSON 1e999 parses to Infinity)
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  const json = (JSON.stringify(value) ?? String(value))
    .replace(/(\/\/[^/:@\s"]*:)[^@/\s"]*@/g, '$1***@')
    .replace(/([?&][^=&#\s"]+=)[^&#\s"]*/g, '$1***')
  return json.length > 60 ? `${json.slice(0, 57)}...` : json
}

const WHAT: Record<string, string> = {
  array: 'a list',
  object: 'a mapping (key: value lines)',
  record: 'a mapping (key: value lines)',
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
}
const WHAT_JSON: Record<string, string> = {
  ...WHAT,
  array: 'a JSON array',
  object: 'a JSON object',
  record: 'a JSON object',
}

/** How to write a value of the expected type in YAML, or send it in JSON, given what was written. */
function howTo(expected: string, input: unknown, syntax: Syntax): string {
  const json = syntax === 'json'
  const verb = json ? 'send' : 'write'
  const digits = json ? 'a JSON number' : 'digits'
  switch (expected) {
    case 'array':
      if (json)
        return typeof input === 'string'
          ? `send a list: [${JSON.stringify(input)}]`
          : 'send a list: ["a", "b"]'
      return typeof input === 'string'
        ? `write a list: [${input}] or one "- ${input}" line per item`
        : 'write a list: [a, b] or one "- item" line per item'
    case 'object':
    case 'record':
      return json ? 'send an object: { "key": value }' : 'write key: value lines indented below this key'
    case 'string':
      if (input === null || typeof input === 'object') return `${verb} a single value`
      return json ? `send it as a string: "${String(input)}"` : `quote it: "${String(input)}"`
    case 'int':
      return typeof input === 'number' && Number.isFinite(input)
        ? `${verb} ${Math.floor(input)} or ${Math.ceil(input)}`
        : `${verb} ${digits} without quotes, e.g. 3`
    case 'number':
      return `${verb} ${digits} without quotes, e.g. 5 or 0.5`
    case 'boolean':
      return `${verb} true or false without quotes`
    default:
      return `${verb} ${expected}`
  }
}

function sizeProblem(
  issue: z.core.$ZodRawIssue & { code: 'too_small' | 'too_big' },
  got: string,
  syntax: Syntax,
): string | undefined {
  const write = syntax === 'json' ? 'send' : 'write'
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
          ? `must be more than ${limit}, got ${got}; ${write} a number above ${limit}`
          : `must be at least ${limit}, got ${got}; ${write} ${limit} or more`
      return open
        ? `must be less than ${limit}, got ${got}; ${write} a number below ${limit}`
        : `must be at most ${limit}, got ${got}; ${write} ${limit} or less`
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
 * The message for one zod issue in a config file, or undefined to keep zod's (custom checks phrase
 * their own). Pass as `safeParse(data, { error: configIssueMessage })`.
 */
export function configIssueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  return issueMessage(issue, 'yaml')
}

/** {@link configIssueMessage} for a JSON request body of the admin API. */
export function jsonIssueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  return issueMessage(issue, 'json')
}

/** `"a"`, `"a" or "b"`, `"a", "b" or "c"` */
function anyOf(choices: readonly unknown[]): string {
  const quoted = choices.map((v) => JSON.stringify(v))
  return quoted.length < 2 ? (quoted[0] ?? '') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`
}

/** A value that is none of the choices; one spelled close to a choice names it. */
function oneOf(choices: readonly unknown[], input: unknown): string {
  const strings = choices.filter((v): v is string => typeof v === 'string')
  const meant = typeof input === 'string' ? closestKey(input, strings) : undefined
  const listed = `expected one of ${choices.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(input)}`
  return meant === undefined ? listed : `${listed}; did you mean "${meant}"?`
}

function issueMessage(issue: z.core.$ZodRawIssue, syntax: Syntax): string | undefined {
  const got = describeValue(issue.input)
  switch (issue.code) {
    case 'invalid_type': {
      const expected = String(issue.expected)
      const what = (syntax === 'json' ? WHAT_JSON : WHAT)[expected] ?? expected
      if (issue.input === undefined) return `missing; add it (${what})`
      return `expected ${what}, got ${got}; ${howTo(expected, issue.input, syntax)}`
    }
    case 'too_small':
    case 'too_big':
      return sizeProblem(issue, got, syntax)
    case 'invalid_value':
      return oneOf(issue.values, issue.input)
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
        // absent, the key is what is wrong, not its value: "got nothing" reads as a blank value
        if (value === undefined) return `missing; set it to ${anyOf(options)}`
        return oneOf(options, value)
      }
      if (issue.input === undefined) return 'missing; add it'
      const where = syntax === 'json' ? 'the API reference (/docs)' : 'docs/config.md'
      return `got ${got}, which is none of the forms this key accepts; see ${where} for it`
    }
    default:
      return undefined
  }
}

/** Formats a path array as `routes[2].service`; `root` names the empty path. */
export function formatPath(path: readonly PropertyKey[], root = '(top level)'): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out === '' ? String(part) : `.${String(part)}`
  }
  return out === '' ? root : out
}

/**
 * Every issue of a failed parse (run with `reportInput: true` and one of the issue messages above)
 * as a problem: an unknown key is one problem per key, and a schema's own message that does not
 * say what it got is told. Paths start with `under` (where the parsed value sits); `root` names an
 * empty path (`body` for a request body). Given the `schema` that was parsed, an unknown key close
 * to a known one (`timeoutMS`) names it instead of only asking to check the spelling.
 */
export function issueProblems(
  error: z.ZodError,
  opts: { root?: string; under?: readonly PropertyKey[]; schema?: z.core.$ZodType } = {},
): ConfigProblem[] {
  const at = (path: readonly PropertyKey[]) => formatPath([...(opts.under ?? []), ...path], opts.root)
  const problems: ConfigProblem[] = []
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = opts.schema ? knownKeysAt(opts.schema, issue.path, issue.input) : []
      for (const key of issue.keys) {
        const meant = closestKey(key, known)
        problems.push({
          path: at([...issue.path, key]),
          message:
            meant === undefined
              ? `unknown key "${key}"; remove it or check its spelling`
              : `unknown key "${key}"; did you mean "${meant}"?`,
        })
      }
      continue
    }
    const units =
      issue.code === 'invalid_type' && (issue.expected === 'number' || issue.expected === 'int')
        ? unitHint(issue.path.at(-1), issue.input)
        : undefined
    if (units !== undefined) {
      problems.push({ path: at(issue.path), message: units })
      continue
    }
    // a missing key's input is its parent mapping: quoting it would not show what is wrong
    const got =
      'input' in issue && issue.input !== undefined && !/\bgot\b|^missing\b/.test(issue.message)
        ? `, got ${describeValue(issue.input)}`
        : ''
    problems.push({ path: at(issue.path), message: `${issue.message}${got}` })
  }
  return problems
}
