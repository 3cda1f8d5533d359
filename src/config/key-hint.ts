/**
 * @module The known key an unknown one was probably meant to be: the object schema at the
 * problem's path is found by walking the zod schema, and its keys are compared with the unknown
 * one, ignoring case and allowing a typo or two.
 */
import type { z } from 'zod'

type Schema = z.core.$ZodType

/** The parts of a zod 4 schema definition the walk reads; every one is optional. */
interface Def {
  type: string
  shape?: Record<string, Schema>
  element?: Schema
  innerType?: Schema
  options?: readonly Schema[]
  valueType?: Schema
  in?: Schema
  out?: Schema
  left?: Schema
  right?: Schema
  items?: readonly Schema[]
  rest?: Schema | null
  getter?: () => Schema
  values?: readonly unknown[]
}

const defOf = (schema: Schema): Def => schema._zod.def as unknown as Def

/**
 * The schemas `schema` may apply to its value with, wrappers (optional, default, nullable,
 * pipes, lazy, ...) taken off and unions spread: several when a union has several options.
 */
function unwrap(schema: Schema, out: Schema[], depth = 0): Schema[] {
  if (depth > 32) return out // a lazy schema that refers to itself
  const def = defOf(schema)
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'catch':
    case 'readonly':
      return unwrap(def.innerType!, out, depth + 1)
    case 'pipe':
      // a preprocess runs before its schema, a transform after: either side may be the object
      unwrap(def.in!, out, depth + 1)
      return unwrap(def.out!, out, depth + 1)
    case 'lazy':
      return unwrap(def.getter!(), out, depth + 1)
    case 'union':
      for (const option of def.options ?? []) unwrap(option, out, depth + 1)
      return out
    case 'intersection':
      unwrap(def.left!, out, depth + 1)
      return unwrap(def.right!, out, depth + 1)
    default:
      out.push(schema)
      return out
  }
}

/** The schemas of the value at `part` of a value of one of `schemas`. */
function childSchemas(schemas: readonly Schema[], part: PropertyKey): Schema[] {
  const out: Schema[] = []
  for (const schema of schemas) {
    const def = defOf(schema)
    if (def.type === 'object' && typeof part === 'string') {
      const field = def.shape?.[part]
      if (field !== undefined) unwrap(field, out)
    } else if (def.type === 'record' && typeof part === 'string') {
      unwrap(def.valueType!, out)
    } else if (def.type === 'array' && typeof part === 'number') {
      unwrap(def.element!, out)
    } else if (def.type === 'tuple' && typeof part === 'number') {
      const item = def.items?.[part] ?? def.rest
      if (item) unwrap(item, out)
    }
  }
  return out
}

/**
 * Whether the object `input` can be of `shape`: a field the schema fixes to literal values (a
 * discriminator such as `kind`) holds one of them, so a union's other options are left out.
 */
function fits(shape: Record<string, Schema>, input: unknown): boolean {
  if (input === null || typeof input !== 'object') return true
  for (const [key, value] of Object.entries(input)) {
    const field = shape[key]
    if (field === undefined) continue
    const literal = unwrap(field, []).map(defOf)
    if (literal.length > 0 && literal.every((d) => d.type === 'literal')) {
      if (!literal.some((d) => d.values?.includes(value))) return false
    }
  }
  return true
}

/** The keys the object at `path` of `root` accepts (every option's, when a union leaves several). */
export function knownKeysAt(root: Schema, path: readonly PropertyKey[], input?: unknown): string[] {
  let schemas = unwrap(root, [])
  for (const part of path) schemas = childSchemas(schemas, part)
  const shapes = schemas.map(defOf).flatMap((d) => (d.type === 'object' && d.shape ? [d.shape] : []))
  const fitting = shapes.filter((shape) => fits(shape, input))
  return [...new Set((fitting.length > 0 ? fitting : shapes).flatMap((shape) => Object.keys(shape)))]
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i])
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, rows[i - 2]![j - 2]! + 1)
      rows[i]![j] = d
    }
  }
  return rows[a.length]![b.length]!
}

/**
 * The known key closest to `key`, or undefined when none is close: the same key in another case,
 * or one typo away (two for keys of seven letters or more). Short keys only match by case, since
 * one letter changes most of them.
 *
 * @example
 * closestKey('timeoutMS', ['timeoutMs', 'path']) // 'timeoutMs'
 * closestKey('colour', ['targets', 'balancer']) // undefined
 */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase()
  const allowed = lower.length >= 7 ? 2 : lower.length >= 4 ? 1 : 0
  let best: string | undefined
  let bestDistance = allowed + 1
  for (const candidate of known) {
    if (candidate === key) continue
    const d = editDistance(lower, candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}
