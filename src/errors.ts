/** @module One registry of every Vigil error code (VGL_ERR_*), documented row by row in docs/errors.md. */
import { format } from 'node:util'

export interface ErrorDefinition {
  readonly code: string
  /** printf-style template (`%s`, `%d`) filled from `create(...args)` */
  readonly template: string
  /** HTTP status when the error reaches a client; 500 for internal errors */
  readonly statusCode: number
}

/**
 * An error with a stable code. Match on `err.code`, never `instanceof`: error classes do not
 * survive `postMessage` to the control-plane worker.
 */
export class VigilError extends Error {
  readonly code: string
  readonly statusCode: number
  constructor(code: string, message: string, statusCode: number, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'VigilError'
    this.code = code
    this.statusCode = statusCode
  }
}

const registry = new Map<string, ErrorDefinition>()

export interface ErrorFactory extends ErrorDefinition {
  (...args: unknown[]): VigilError
}

/** Defines a code once; a second definition of the same code is a programming error. */
export function defineError(code: string, template: string, statusCode = 500): ErrorFactory {
  if (!/^VGL_ERR_[A-Z0-9_]+$/.test(code))
    throw new Error(`error code ${code} must match VGL_ERR_<AREA>_<WHAT>`)
  if (registry.has(code)) throw new Error(`error code ${code} defined twice`)
  const def: ErrorDefinition = { code, template, statusCode }
  registry.set(code, def)
  const factory = ((...args: unknown[]) =>
    new VigilError(code, format(template, ...args), statusCode)) as ErrorFactory
  Object.defineProperties(factory, {
    code: { value: code },
    template: { value: template },
    statusCode: { value: statusCode },
  })
  return factory
}

/** Every defined code, for docs and tests. */
export function errorCodes(): readonly ErrorDefinition[] {
  return [...registry.values()]
}

export function isVigilError(err: unknown): err is VigilError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as { code: string }).code.startsWith('VGL_ERR_')
  )
}

// ---- config ----------------------------------------------------------------------------
export const VGL_ERR_CONFIG_INVALID = defineError('VGL_ERR_CONFIG_INVALID', '%s', 400)
export const VGL_ERR_CONFIG_READ = defineError('VGL_ERR_CONFIG_READ', 'cannot read config file %s: %s', 400)
export const VGL_ERR_CONFIG_YAML = defineError('VGL_ERR_CONFIG_YAML', '%s: not valid YAML: %s', 400)
export const VGL_ERR_CONFIG_ENV = defineError('VGL_ERR_CONFIG_ENV', '%s', 400)

// ---- cli -------------------------------------------------------------------------------
export const VGL_ERR_CLI_USAGE = defineError('VGL_ERR_CLI_USAGE', '%s', 2)
export const VGL_ERR_CSV_INPUT = defineError('VGL_ERR_CSV_INPUT', '%s', 400)

// ---- gateway ---------------------------------------------------------------------------
// Each area adds its codes in its own section below, and a row in docs/errors.md.
