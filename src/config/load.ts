/** @module Reads vigil.yaml: env substitution, YAML parse, strict validation, cross-field checks, frozen result. */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { parseDocument } from 'yaml'
import type { z } from 'zod'
import {
  VGL_ERR_CONFIG_ENV,
  VGL_ERR_CONFIG_INVALID,
  VGL_ERR_CONFIG_READ,
  VGL_ERR_CONFIG_YAML,
} from '../errors.js'
import { substituteEnv } from './env.js'
import { configSchema, crossCheck, type Config } from './schema.js'

/** One problem in a config file, already phrased for a person: `path: message`. */
export interface ConfigProblem {
  path: string
  message: string
}

/** Formats a path array as `routes[2].service`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out === '' ? String(part) : `.${String(part)}`
  }
  return out === '' ? '(top level)' : out
}

/**
 * A wrong value as the error shows it: the password of a URL (`//user:***@`) and the values of its
 * query (`?token=***`) hidden, since a sink or store URL carries its secret there and config errors
 * reach logs and the admin API's reload answer.
 */
function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing'
  const json = JSON.stringify(value)
    .replace(/(\/\/[^/:@\s"]*:)[^@/\s"]*@/g, '$1***@')
    .replace(/([?&][^=&#\s"]+=)[^&#\s"]*/g, '$1***')
  return json.length > 60 ? `${json.slice(0, 57)}...` : json
}

function zodProblems(error: z.ZodError): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({
          path: formatPath([...issue.path, key]),
          message: `unknown key "${key}"; remove it or check its spelling`,
        })
      }
      continue
    }
    if (issue.code === 'invalid_union' && issue.path.length > 0) {
      problems.push({
        path: formatPath(issue.path),
        message: `${issue.message}, got ${describeValue(issue.input)}`,
      })
      continue
    }
    const got = 'input' in issue ? `, got ${describeValue(issue.input)}` : ''
    problems.push({ path: formatPath(issue.path), message: `${issue.message}${got}` })
  }
  return problems
}

/**
 * Validates an already-parsed config object. Returns the frozen config or the list of problems.
 * `env` is consulted only for the cross-checks that need it.
 */
export function validateConfig(
  raw: unknown,
): { config: Config; problems: [] } | { config: null; problems: ConfigProblem[] } {
  const parsed = configSchema.safeParse(raw ?? {}, { reportInput: true })
  if (!parsed.success) return { config: null, problems: zodProblems(parsed.error) }
  const problems = crossCheck(parsed.data)
  if (problems.length > 0) return { config: null, problems }
  return { config: deepFreeze(parsed.data), problems: [] }
}

/** Parses config text (after env substitution) named `file` for messages. Throws VigilError listing every problem. */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const name = basename(file)
  const sub = substituteEnv(text, env)
  if (sub.missing.length > 0) {
    throw VGL_ERR_CONFIG_ENV(
      sub.missing
        .map((m) => `${name}: environment variable ${m} is not set; export it or write \${NAME:-default}`)
        .join('\n'),
    )
  }
  const doc = parseDocument(sub.text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw VGL_ERR_CONFIG_YAML(name, doc.errors.map((e) => e.message.split('\n')[0]).join('; '))
  }
  const result = validateConfig(doc.toJS())
  if (result.config === null) {
    throw VGL_ERR_CONFIG_INVALID(result.problems.map((p) => `${name}: ${p.path}: ${p.message}`).join('\n'))
  }
  return result.config
}

/** Reads and validates a config file. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw VGL_ERR_CONFIG_READ(file, (err as NodeJS.ErrnoException).code ?? (err as Error).message)
  }
  return parseConfigText(text, file, env)
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
