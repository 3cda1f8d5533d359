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

/** `${VAR}` references in raw config text, masked before parsing (see maskEnvRefs). */
export interface MaskedRefs {
  /** the text with each reference replaced by a placeholder of the same line */
  readonly text: string
  /** placeholder → the reference it stands for */
  readonly refs: ReadonlyMap<string, string>
  /** matches every placeholder in a string */
  readonly pattern: RegExp
}

/**
 * Replaces every `${...}` reference in `text` with a placeholder that YAML reads as plain text in
 * any context: unquoted inside `[ ]` or `{ }` a `${PORT}` would otherwise parse as a map. The
 * placeholders never hold a line break, so line numbers stay those of `text`. `$${VAR}` (a
 * literal) is left as it is.
 */
export function maskEnvRefs(text: string): MaskedRefs {
  let nonce = Math.random().toString(36).slice(2, 8)
  while (text.includes(nonce)) nonce = Math.random().toString(36).slice(2, 8)
  const refs = new Map<string, string>()
  const masked = text.replace(PATTERN, (match: string, ...rest: unknown[]) => {
    const offset = rest[rest.length - 2] as number
    if (offset > 0 && text[offset - 1] === '$') return match
    const placeholder = `vigil-env-${refs.size}-${nonce}`
    refs.set(placeholder, match)
    return placeholder
  })
  return { text: masked, refs, pattern: new RegExp(`vigil-env-\\d+-${nonce}`, 'g') }
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
  masked?: MaskedRefs,
): MissingVariable[] {
  const missing: MissingVariable[] = []
  const scalarTags = doc.schema.tags.filter((t): t is ScalarTag => 'test' in t && t.test instanceof RegExp)
  visit(doc, {
    Scalar(key, node, ancestors) {
      if (typeof node.value !== 'string') return
      // where each reference was (placeholders are unique), for the line of a missing variable
      const at = new Map<string, number>()
      let before: string = node.value
      if (masked !== undefined) {
        before = before.replace(masked.pattern, (p) => {
          const ref = masked.refs.get(p) ?? p
          if (!at.has(ref)) at.set(ref, source.indexOf(p))
          return ref
        })
        node.value = before
      }
      if (key === 'key' || !before.includes('${')) return
      const sub = expandEnv(before, env)
      for (const name of sub.missing) {
        const start = node.range?.[0] ?? 0
        const found = [...at].find(([ref]) => ref.startsWith(`\${${name}`))?.[1]
        const direct = source.indexOf(`\${${name}`, start)
        const offset =
          found !== undefined && found >= 0
            ? found
            : direct >= 0 && direct < (node.range?.[1] ?? Infinity)
              ? direct
              : start
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
