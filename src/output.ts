/**
 * @module Output files of the commands (`--output`, `--out`): checked before a long run, so a path
 * that cannot be written fails at once and no work is lost, and written with an error that names
 * the option, the path and the OS's reason.
 */
import { accessSync, constants, statSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { isVigilError, VGL_ERR_CLI_OUTPUT, VGL_ERR_CLI_USAGE } from './errors.js'

/** `ENOENT: no such file or directory`: node's message without the syscall and path it repeats. */
function osReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  return (e.message ?? String(err)).replace(/, \w+ '.*'$/s, '')
}

/**
 * Fails fast, before a long run, when the output file cannot be written: its directory missing,
 * not a directory or not writable, or the path itself a directory or a read-only file. `-`
 * (stdout) always can. `flag` names the option in the message.
 */
export function checkOutputWritable(path: string, flag = '--output'): void {
  if (path === '-') return
  const fail = (why: string) =>
    VGL_ERR_CLI_OUTPUT(`${flag} ${path}: cannot write the file: ${why}; choose another path`)
  const dir = dirname(resolve(path))
  try {
    const st = statSync(path, { throwIfNoEntry: false })
    if (st?.isDirectory() === true) throw fail('it is a directory')
    if (st !== undefined) return accessSync(path, constants.W_OK)
    const dirStat = statSync(dir, { throwIfNoEntry: false })
    if (dirStat === undefined) throw fail(`directory ${dir} does not exist`)
    if (!dirStat.isDirectory()) throw fail(`${dir} is not a directory`)
    accessSync(dir, constants.W_OK)
  } catch (err) {
    if (isVigilError(err)) throw err
    const code = (err as NodeJS.ErrnoException).code
    // ENOTDIR: a file where a directory of the path should be
    throw fail(code === 'ENOTDIR' ? `${dir} is not a directory (a part of it is a file)` : osReason(err))
  }
}

/** The file at `path`, or undefined when there is none or it cannot be looked at (reading it says why). */
function fileId(path: string): { dev: number; ino: number } | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false })
  } catch {
    return undefined
  }
}

/**
 * Refuses an output that is the input file, by any path to it (the same name, `./` or a link):
 * the input would be overwritten with the answer computed from it. A usage error (exit 2).
 */
export function checkOutputNotInput(
  output: string,
  input: string,
  outFlag = '--output',
  inFlag = '--input',
): void {
  if (output === '-' || input === '-') return
  const o = fileId(output)
  const i = fileId(input)
  if (o === undefined || i === undefined || o.dev !== i.dev || o.ino !== i.ino) return
  throw VGL_ERR_CLI_USAGE(
    `${outFlag} ${output} is the ${inFlag} file ${input}; writing it would overwrite the input: choose another ${outFlag} path`,
  )
}

/** Writes `text` to the file at `path`, or to stdout for `-`; a failure names `flag`, the path and why. */
export function writeOutput(path: string, text: string, flag = '--output'): void {
  if (path === '-') {
    process.stdout.write(text)
    return
  }
  try {
    writeFileSync(path, text)
  } catch (err) {
    throw VGL_ERR_CLI_OUTPUT(`${flag} ${path}: cannot write the file: ${osReason(err)}`)
  }
}
