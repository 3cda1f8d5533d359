/**
 * @module Request path normalisation before routing: dot segments (`.`, `..`, also written
 * `%2e`) are resolved as RFC 3986 §5.2.4 removes them, so `/public/../admin/x` is routed and
 * forwarded as `/admin/x`, as Envoy's `normalize_path` does. Everything else is forwarded byte
 * for byte: other percent-escapes are not decoded and the case of their hex digits is kept (a
 * signed path stays valid).
 *
 * Paths an upstream could read differently from the gateway are refused (400) rather than
 * guessed at:
 * - a raw backslash: not allowed in a URI path (RFC 3986 §3.3), and WHATWG URL parsers (Node's
 *   `new URL`, browsers) read it as `/`;
 * - an escaped slash or backslash (`%2F`, `%5C`) that hides a dot segment (`..%2Fadmin`), or any
 *   escaped slash when `gateway.escapedSlashes` is `reject`; otherwise it is data inside one
 *   segment, kept as it is;
 * - a dot segment with path parameters (`..;x`), which Tomcat and others read as `..`;
 * - a `%` that does not start an escape (`/100%`, `%ZZ`) or escapes that are not UTF-8: the router
 *   cannot decode them, and the client is told so rather than that no route exists.
 */

/** Why a path was refused; `normalizePath` returns it instead of a path. */
export interface PathRefusal {
  readonly refused: string
}

const DOT = 46
const SLASH = 47
/** `/.`, a percent sign or a backslash: the only paths normalisation can change or refuse */
const MAY_NEED_WORK = /[%\\]|\/\./

/**
 * True when `path` may need work: it contains `/.`, a percent-escape or a backslash. Paths
 * without any of them (nearly all) are used as they are.
 */
export function pathNeedsNormalizing(path: string): boolean {
  return MAY_NEED_WORK.test(path)
}

/** `segment` with `%2e`/`%2E` read as `.`; other escapes untouched. */
function dotsDecoded(segment: string): string {
  return segment.indexOf('%') < 0 ? segment : segment.replace(/%2e/gi, '.')
}

const isDots = (s: string): boolean => s === '.' || s === '..'

/** Whether every `%` of `path` starts an escape of two hex digits, and the bytes are UTF-8. */
function decodes(path: string): boolean {
  try {
    decodeURIComponent(path)
    return true
  } catch {
    return false
  }
}

/** `path` cut to fit one line of an error. */
const shown = (path: string): string => (path.length > 100 ? `${path.slice(0, 97)}...` : path)
const ESCAPED_SLASH = /%(?:2f|5c)/i

/**
 * The normalised form of an origin-form path (query already removed), or the reason to refuse
 * it. Returns `path` itself when nothing changes. Other request-target forms (`*`, absolute
 * form) are returned unchanged: no route matches them.
 */
export function normalizePath(path: string, rejectEscapedSlashes: boolean): string | PathRefusal {
  if (path.charCodeAt(0) !== SLASH) return path
  if (path.indexOf('\\') >= 0) return { refused: 'a raw backslash in the path (percent-encode it as %5C)' }
  // the router cannot decode such a path and would answer 404 "no route", which points at the config
  if (path.indexOf('%') >= 0 && !decodes(path))
    return {
      refused: `a percent-escape that does not decode in the path ("${shown(path)}"): write a literal % as %25, and escape UTF-8 bytes`,
    }
  const segments = path.split('/')
  const out: string[] = []
  let changed = false
  // segments[0] is the empty string before the leading slash.
  for (let i = 1; i < segments.length; i++) {
    const raw = segments[i]
    const seg = dotsDecoded(raw)
    const last = i === segments.length - 1
    if (isDots(seg)) {
      changed = true
      if (seg === '..') out.pop()
      // A trailing dot segment leaves the path ending in a slash (`/a/..` is `/`).
      if (last) out.push('')
      continue
    }
    if (seg.charCodeAt(0) === DOT) {
      const semi = seg.indexOf(';')
      if (semi > 0 && isDots(seg.slice(0, semi)))
        return { refused: `a dot segment with parameters ("${raw}") in the path` }
    }
    if (ESCAPED_SLASH.test(seg)) {
      if (rejectEscapedSlashes)
        return { refused: 'an escaped slash (%2F or %5C) in the path (gateway.escapedSlashes is reject)' }
      if (seg.split(/%2f|%5c/i).some(isDots))
        return { refused: `an escaped slash hiding a dot segment ("${raw}") in the path` }
    }
    out.push(raw)
  }
  return changed ? `/${out.join('/')}` : path
}
