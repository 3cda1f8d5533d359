/** @module Reads vigil.yaml: YAML parse, env substitution in string values, strict validation, cross-field checks, frozen result. */
import { readFileSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { LineCounter, parseDocument, type YAMLError } from 'yaml'
import { z } from 'zod'
import {
  VGL_ERR_CONFIG_ENV,
  VGL_ERR_CONFIG_INVALID,
  VGL_ERR_CONFIG_READ,
  VGL_ERR_CONFIG_YAML,
} from '../errors.js'
import { maskEnvRefs, substituteEnv } from './env.js'
import { configIssueMessage, formatPath, issueProblems, type ConfigProblem } from './messages.js'
import { configSchema, crossCheck, routeSchema, type Config } from './schema.js'

/** Removes the value at `path` (a field, not a list item) so its default applies. */
function removeAt(root: unknown, path: readonly PropertyKey[]): void {
  const parent = valueAt(root, path.slice(0, -1))
  if (parent !== null && typeof parent === 'object')
    delete (parent as Record<PropertyKey, unknown>)[path.at(-1)!]
}

function setAt(root: unknown, path: readonly PropertyKey[], value: unknown): void {
  const parent = valueAt(root, path.slice(0, -1))
  if (parent !== null && typeof parent === 'object')
    (parent as Record<PropertyKey, unknown>)[path.at(-1)!] = value
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node: unknown = root
  for (const part of path) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<PropertyKey, unknown>)[part]
  }
  return node
}

/**
 * Stand-ins for a required text field of a list item while its real value is wrong: a path, then
 * a name. Each is made unique, and no problem mentioning one is reported.
 */
const STAND_IN = 'vigil-stand-in-'
const STAND_INS = [`/${STAND_IN}`, STAND_IN]

/**
 * The schema the cross-checks of a broken file parse with: as the file's, except that routes may
 * be missing or empty, so that taking out its only route that cannot be read (or a file without
 * routes yet) still leaves the services, alerts and policies to cross-check.
 */
const crossCheckSchema = configSchema.extend({ routes: z.array(routeSchema).default([]) })

/**
 * The list items taken out of a file for its cross-checks, so that what the checks say about the
 * items that stayed names them by their place in the file (`routes[2]`, not `routes[1]` once the
 * item before it is out).
 */
class ItemsTakenOut {
  /** per list (its path in the file), the file's index of each item still in it */
  #lists = new Map<string, number[]>()

  /** `path`, indexing the lists as they are now, as the path in the file. */
  inFile(path: readonly PropertyKey[]): PropertyKey[] {
    const out: PropertyKey[] = []
    for (const part of path) {
      const kept = typeof part === 'number' ? this.#lists.get(formatPath(out)) : undefined
      out.push(typeof part === 'number' ? (kept?.[part] ?? part) : part)
    }
    return out
  }

  /** Takes the items at `indexes` (as they are now) out of `list`, at `listPath` (as it is now). */
  take(list: unknown[], listPath: readonly PropertyKey[], indexes: readonly number[]): void {
    const key = formatPath(this.inFile(listPath))
    const kept = this.#lists.get(key) ?? list.map((_, i) => i)
    for (const i of [...new Set(indexes)].sort((a, b) => b - a)) {
      list.splice(i, 1)
      kept.splice(i, 1)
    }
    this.#lists.set(key, kept)
  }

  /**
   * A cross-check's problem with each `list[i]` in its path and message renumbered as in the
   * file: the list's whole path (`alerts.sinks[1]`) or its last name (`steps[0]`, as a list's
   * own checks say it), but not a same-named list inside another (`rules[0].sinks[1]`).
   */
  renumber(problem: ConfigProblem): ConfigProblem {
    let { path, message } = problem
    for (const [list, kept] of this.#lists) {
      const last = /[^.\]]+$/.exec(list)?.[0] ?? list
      const at = new RegExp(`(^|[^\\w.])(${escapeRegExp(list)}|${escapeRegExp(last)})\\[(\\d+)\\]`, 'g')
      const fix = (text: string) =>
        text.replace(
          at,
          (_all, before: string, name: string, i: string) => `${before}${name}[${kept[Number(i)] ?? i}]`,
        )
      path = fix(path)
      message = fix(message)
    }
    return { path, message }
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/**
 * The cross-field problems of a file that also has schema problems: the schema's bad values are
 * removed (unknown keys dropped, wrong values left to their defaults, list items that cannot be
 * read taken out) until the rest parses, and the cross-checks run on that. A problem they report
 * where a removed value lived is dropped, since it may be about the default rather than the file.
 * A required text field of a list item that was wrong gets a stand-in, so the item's other fields
 * are still checked; when none fits, or for a map entry (a service), what holds the field is
 * removed with it. A problem naming a removed entry is dropped, and so is one elsewhere naming a
 * removed item (a rule's sink); the items after a removed one keep their place in the file in
 * what is said about them. Empty when the rest still cannot parse (a required section was wrong).
 */
function crossCheckWhatParsed(raw: unknown, reported: readonly ConfigProblem[]): ConfigProblem[] {
  const input: unknown = structuredClone(raw ?? {})
  const out = new ItemsTakenOut()
  /** paths as in the file, as are those of `seen` and `standIns` */
  const tainted: string[] = []
  const seen = new Set<string>()
  /** per required field of a list item, how many stand-ins were tried */
  const standIns = new Map<string, number>()
  /**
   * entries removed whole, with the map they were in: a cross-check naming one is about its
   * removal. A service is named by checks all over the file; an entry of another map (a tier, a
   * capacity budget) only by those that point at that map, so a budget `limits.services.ordrs`
   * removed for a missing `burst` does not hide that a route's service "ordrs" is unknown.
   */
  const gone: { name: string; map: string }[] = []
  /** names of list items taken out (a sink), with their list: a check elsewhere naming one is about that */
  const goneItems: { name: string; list: string }[] = []
  const first = crossCheckSchema.safeParse(input)
  let issues = first.success ? [] : first.error.issues
  for (let round = 0; round < 10; round++) {
    /** list items to take out once every path of this round (indexing the lists as they are) is used */
    const items = new Map<unknown[], { path: PropertyKey[]; indexes: number[] }>()
    for (const issue of issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) removeAt(input, [...issue.path, key])
        continue
      }
      let path: readonly PropertyKey[] = issue.path
      // removing it did not help, the field is required: inside a list item, try a stand-in text
      // so the item's other fields are still checked (a route's service when its path is wrong)
      const key = formatPath(out.inFile(path))
      const tried = standIns.get(key) ?? 0
      if (seen.has(key) && tried < STAND_INS.length && path.some((p) => typeof p === 'number')) {
        standIns.set(key, tried + 1)
        setAt(input, path, `${STAND_INS[tried]}${standIns.size}`)
        continue
      }
      // else remove what holds it (`services.web` for its `targets`, `routes[2]` for its `path`)
      while (typeof path.at(-1) !== 'number' && seen.has(formatPath(out.inFile(path)))) {
        path = path.slice(0, -1)
        if (path.length === 0) return []
        const name = path.at(-1)
        if (typeof name === 'string') gone.push({ name, map: formatPath(out.inFile(path.slice(0, -1))) })
      }
      const index = path.at(-1)
      if (typeof index === 'number') {
        const list = valueAt(input, path.slice(0, -1))
        if (!Array.isArray(list)) return []
        const item: unknown = list[index]
        const name = item !== null && typeof item === 'object' ? (item as { name?: unknown }).name : undefined
        if (typeof name === 'string')
          goneItems.push({ name, list: formatPath(out.inFile(path.slice(0, -1))) })
        const entry = items.get(list) ?? { path: path.slice(0, -1), indexes: [] }
        entry.indexes.push(index)
        items.set(list, entry)
        continue
      }
      seen.add(formatPath(out.inFile(path)))
      removeAt(input, path)
      // a wrong value's default may disagree with its siblings (`backoffMaxMs` with `backoffBaseMs`
      // in `retry`); a list item's own fields are checked one by one
      const section = path === issue.path && path.length > 1 && typeof path.at(-2) !== 'number'
      tainted.push(formatPath(out.inFile(section ? path.slice(0, -1) : path)))
    }
    for (const [list, { path, indexes }] of items) out.take(list, path, indexes)
    const parsed = crossCheckSchema.safeParse(input)
    if (!parsed.success) {
      issues = parsed.error.issues
      continue
    }
    const under = (p: string, t: string) => p === t || p.startsWith(`${t}.`) || p.startsWith(`${t}[`)
    return crossCheck(parsed.data, declaredServices(raw))
      .map((c) => out.renumber(c))
      .filter(
        (c) =>
          !tainted.some((t) => under(c.path, t)) &&
          !reported.some((r) => r.path === c.path) &&
          !c.message.includes(STAND_IN) &&
          !gone.some(
            (g) => c.message.includes(`"${g.name}"`) && (g.map === 'services' || c.message.includes(g.map)),
          ) &&
          !goneItems.some((g) => !under(c.path, g.list) && c.message.includes(`"${g.name}"`)),
      )
  }
  return []
}

/** The service names the file declares under `services:`, including those with problems of their own. */
function declaredServices(raw: unknown): string[] | undefined {
  const services = (raw as { services?: unknown } | null)?.services
  return services !== null && typeof services === 'object' && !Array.isArray(services)
    ? Object.keys(services)
    : undefined
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
    return { config: null, problems: [...problems, ...crossCheckWhatParsed(raw, problems)] }
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
