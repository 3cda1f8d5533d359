/** @module `${VAR}` and `${VAR:-default}` substitution in config text, before YAML parsing. */

export interface EnvSubstitution {
  text: string
  /** variables referenced without a default that are not set: `VAR (line N)` */
  missing: string[]
}

const PATTERN = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/**
 * Replaces `${VAR}` with the variable's value and `${VAR:-default}` with the value or the
 * default when the variable is unset or empty (POSIX shell semantics). `$${VAR}` escapes to a
 * literal `${VAR}`. Comments are substituted too; that is harmless and keeps line numbers.
 */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv): EnvSubstitution {
  const missing: string[] = []
  const out = text.replace(PATTERN, (match, name: string, fallback: string | undefined, offset: number) => {
    if (offset > 0 && text[offset - 1] === '$') return match
    const value = env[name]
    if (value !== undefined && value !== '') return value
    if (fallback !== undefined) return fallback
    const line = text.slice(0, offset).split('\n').length
    missing.push(`${name} (line ${line})`)
    return ''
  })
  return { text: out.replace(/\$\$\{/g, '${'), missing }
}
