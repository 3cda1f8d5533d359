/** @module Running the `vigil` CLI in process, capturing what it writes to stdout and stderr. */
import { vi } from 'vitest'
import { run } from '../../src/cli/main.js'

/** Captures process.stdout and process.stderr writes until `vi.restoreAllMocks()`. */
export function captureOutput(): { out: () => string; err: () => string } {
  const out: string[] = []
  const err: string[] = []
  vi.spyOn(process.stdout, 'write').mockImplementation(
    (c: string | Uint8Array) => (out.push(String(c)), true),
  )
  vi.spyOn(process.stderr, 'write').mockImplementation(
    (c: string | Uint8Array) => (err.push(String(c)), true),
  )
  return { out: () => out.join(''), err: () => err.join('') }
}

/** Runs `vigil ...argv` in process and resolves to its exit code and what it wrote. */
export async function runCli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureOutput()
  try {
    const code = await run(argv)
    return { code, out: io.out(), err: io.err() }
  } finally {
    vi.restoreAllMocks()
  }
}
