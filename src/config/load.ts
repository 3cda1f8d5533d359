/** @module Reads vigil.yaml: YAML parse, env substitution in string values, strict validation, cross-field checks, frozen result. */
import { readFileSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { LineCounter, parseDocument, type YAMLError } from 'yaml'
import type { z } from 'zod'
import {
  VGL_ERR_CONFIG_ENV,
  VGL_ERR_CONFIG_INVALID,
  VGL_ERR_CONFIG_READ,
  VGL_ERR_CONFIG_YAML,
} from '../errors.js'
import { maskEnvRefs, substituteEnv } from './env.js'
import { configIssueMessage, formatPath, issueProblems, type ConfigProblem } from './messages.js'
import { configSchema, crossCheck, type Config } from './schema.js'

/** Removes the value at `path` so its default applies; a list item takes its whole list with it. */
function removeAt(root: unknown, path: readonly PropertyKey[]): PropertyKey[] {
  let end = path.length
  while (end > 0 && typeof path[end - 1] === 'number') end--
  const at = path.slice(0, end)
  if (at.length === 0) return at
  let node: unknown = root
  for (const part of at.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return at
    node = (node as Record<PropertyKey, unknown>)[part]
  }
  if (node !== null && typeof node === 'object')
    delete (node as Record<PropertyKey, unknown>)[at[at.length - 1]!]
  return at
}

/**
 * The cross-field problems of a file that also has schema problems: the schema's bad values are
 * removed (unknown keys dropped, wrong values left to their defaults) until the rest parses, and
 * the cross-checks run on that. A problem they report where a removed value lived is dropped,
 * since it may be about the default rather than the file. A required field that was wrong takes
 * the map entry holding it (a service) with it, and a problem naming that entry is dropped too.
 * Empty when the rest cannot parse (a required field of a list item or of the file was wrong).
 */
function crossCheckWhatParsed(
  raw: unknown,
  first: z.ZodError,
  reported: readonly ConfigProblem[],
): ConfigProblem[] {
  const input: unknown = structuredClone(raw ?? {})
  const tainted: string[] = []
  const seen = new Set<string>()
  /** names of entries removed whole (a service): a cross-check naming one is about its removal */
  const gone = new Set<string>()
  let issues = first.issues
  for (let round = 0; round < 10; round++) {
    for (const issue of issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) removeAt(input, [...issue.path, key])
        continue
      }
      // removing it did not help, the field is required: remove what holds it (`services.web`
      // for its `targets`), but never a list's item (the items after it would be renumbered)
      let path: readonly PropertyKey[] = issue.path
      while (seen.has(formatPath(path))) {
        path = path.slice(0, -1)
        if (path.length === 0 || typeof path[path.length - 1] === 'number') return []
        const name = path[path.length - 1]
        if (typeof name === 'string') gone.add(name)
      }
      seen.add(formatPath(path))
      const removed = removeAt(input, path)
      if (removed.length === 0) return []
      tainted.push(formatPath(removed.length > 1 && path === issue.path ? removed.slice(0, -1) : removed))
    }
    const parsed = configSchema.safeParse(input)
    if (!parsed.success) {
      issues = parsed.error.issues
      continue
    }
    const under = (p: string, t: string) => p === t || p.startsWith(`${t}.`) || p.startsWith(`${t}[`)
    return crossCheck(parsed.data).filter(
      (c) =>
        !tainted.some((t) => under(c.path, t)) &&
        !reported.some((r) => r.path === c.path) &&
        ![...gone].some((name) => c.message.includes(`"${name}"`)),
    )
  }
  return []
}

/**
 * Validates an already-parsed config object. Returns the frozen config or the list of problems:
 * every schema problem, and the cross-field problems of the parts that parsed.
 */
export function validateConfig(
  raw: unknown,
): { config: Config; problems: [] } | { config: null; problems: ConfigProblem[] } {
  const parsed = configSchema.safeParse(raw ?? {}, { reportInput: true, error: configIssueMessage })
  if (!parsed.success) {
    const problems = issueProblems(parsed.error, { schema: configSchema })
    return { config: null, problems: [...problems, ...crossCheckWhatParsed(raw, parsed.error, problems)] }
  }
  const problems = crossCheck(parsed.data)
  if (problems.length > 0) return { config: null, problems }
  return { config: deepFreeze(parsed.data), problems: [] }
}

/**
 * Parses config text named `file` (the path as the user gave it: every message starts with it):
 * YAML first, then env substitution inside string values, then validation. Throws VigilError
 * listing every problem.
 */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const lines = new LineCounter()
  // references are masked while YAML parses (unquoted in [ ] or { } a `${PORT}` reads as a map)
  const masked = maskEnvRefs(text)
  const doc = parseDocument(masked.text, { prettyErrors: true, uniqueKeys: true, lineCounter: lines })
  if (doc.errors.length > 0) {
    throw VGL_ERR_CONFIG_YAML(file, yamlErrorsMessage(doc.errors))
  }
  const missing = substituteEnv(doc, masked.text, lines, env, masked)
  if (missing.length > 0) {
    throw VGL_ERR_CONFIG_ENV(
      missing
        .map(
          (m) =>
            `${file}: ${formatPath(m.path)}: environment variable ${m.name} (line ${m.line}) is not set; export it or write \${${m.name}:-default}`,
        )
        .join('\n'),
    )
  }
  const raw: unknown = doc.toJS()
  // "services: missing" and "routes: missing" would read as two mistakes in a file that has none yet
  if (raw === null || raw === undefined)
    throw VGL_ERR_CONFIG_INVALID(
      `${file}: the file is empty; a config needs at least services: and routes: (the smallest is in the README under Configuration)`,
    )
  const result = validateConfig(raw)
  if (result.config === null) {
    throw VGL_ERR_CONFIG_INVALID(result.problems.map((p) => `${file}: ${p.path}: ${p.message}`).join('\n'))
  }
  return result.config
}

/** The YAML errors, each the first line of its message without the code excerpt its trailing ":" announces. */
function yamlErrorsMessage(errors: readonly YAMLError[]): string {
  return errors.map((e) => (e.message.split('\n')[0] ?? '').replace(/:\s*$/, '')).join('; ')
}

/** Reads and validates a config file. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw VGL_ERR_CONFIG_READ(file, readProblem(file, err as NodeJS.ErrnoException))
  }
  return parseConfigText(text, file, env)
}

/** Why the file could not be read, and what to do, instead of a bare errno code. */
function readProblem(file: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return isAbsolute(file)
        ? 'no such file; check the path'
        : `no such file in ${process.cwd()}; check the path`
    case 'EISDIR':
      return 'it is a directory; name the YAML file in it'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied; make it readable by this user'
    default:
      return err.code ?? err.message
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
