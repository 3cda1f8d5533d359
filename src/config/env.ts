/** @module `${VAR}` and `${VAR:-default}` substitution inside the string values of a parsed config document. */
import { isPair, isScalar, isSeq, Scalar, visit, type Document, type LineCounter, type ScalarTag } from 'yaml'

/** A `${VAR}` without a default whose variable is unset or empty. */
export interface MissingVariable {
  name: string
  /** the field whose value names it, as for formatPath */
  path: PropertyKey[]
  /** 1-based line of the reference in the file */
  line: number
}

const PATTERN = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g
const WHOLE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/

/**
 * Replaces `${VAR}` with the variable's value and `${VAR:-default}` with the value or the
 * default when the variable is unset or empty (POSIX shell semantics) in `text`; `$${VAR}` is a
 * literal `${VAR}`. Returns the new text and the names of unset variables that have no default.
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv): { text: string; missing: string[] } {
  const missing: string[] = []
  const out = text.replace(PATTERN, (match, name: string, fallback: string | undefined, offset: number) => {
    if (offset > 0 && text[offset - 1] === '$') return match
    const value = env[name]
    if (value !== undefined && value !== '') return value
    if (fallback !== undefined) return fallback
    missing.push(name)
    return ''
  })
  return { text: out.replace(/\$\$\{/g, '${'), missing }
}

/**
 * Substitutes environment variables in every string value of `doc`, in place. Keys and comments
 * are left alone, and a value stays one value whatever the variable holds (quotes, `,`, `:` or
 * newlines in it are text), so a variable can never add a list item or a key.
 *
 * A plain (unquoted, untagged) value that is exactly one `${...}` is then read as a YAML scalar,
 * as if its text had been written there: `port: ${PORT:-8080}` is the number 8080, `true` a
 * boolean, an empty value null. Anything else stays text, as do quoted values (`'${PORT}'`).
 */
export function substituteEnv(
  doc: Document,
  source: string,
  lines: LineCounter,
  env: NodeJS.ProcessEnv,
): MissingVariable[] {
  const missing: MissingVariable[] = []
  const scalarTags = doc.schema.tags.filter((t): t is ScalarTag => 'test' in t && t.test instanceof RegExp)
  visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return
      const before = node.value
      const sub = expandEnv(before, env)
      for (const name of sub.missing) {
        const start = node.range?.[0] ?? 0
        const at = source.indexOf(`\${${name}`, start)
        const offset = at >= 0 && at < (node.range?.[1] ?? Infinity) ? at : start
        missing.push({ name, path: fieldPath(ancestors, node), line: lines.linePos(offset).line })
      }
      node.value = sub.text
      if (node.type === Scalar.PLAIN && node.tag === undefined && WHOLE.test(before)) {
        const tag = scalarTags.find((t) => t.test!.test(sub.text))
        // some tags (bool, null) resolve to a Scalar node rather than a value
        const value = tag?.resolve(sub.text, () => {}, doc.options)
        if (tag !== undefined) node.value = isScalar(value) ? value.value : value
      }
    },
  })
  return missing
}

/** The config path of `node` from the visitor's ancestors: map keys and list indexes. */
function fieldPath(ancestors: readonly unknown[], node: unknown): PropertyKey[] {
  const chain = [...ancestors, node]
  const path: PropertyKey[] = []
  for (let i = 0; i < chain.length - 1; i++) {
    const parent = chain[i]
    const child = chain[i + 1]
    if (isSeq(parent)) path.push(parent.items.indexOf(child as never))
    else if (isPair(parent)) path.push(isScalar(parent.key) ? String(parent.key.value) : String(parent.key))
  }
  return path
}
