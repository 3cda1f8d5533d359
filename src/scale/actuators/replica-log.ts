/**
 * @module A replica's stdout and stderr in a file rather than pipes, read back line by line.
 *
 * ```
 * replica stdout+stderr ──O_APPEND──▶ <dir>/<service>-<instance>.log ──poll──▶ onLine(line)
 *                                      └─ read to its end and over MAX_BYTES: truncated to 0
 * ```
 * A pipe dies with the control plane that reads it: a replica writing to stderr afterwards gets
 * EPIPE, and a Node.js service (an unhandled 'error' on process.stderr) exits, so the replica a
 * killed control plane left running would be gone before the next one could adopt it. A file
 * outlives its reader: the replica writes on, and whoever adopts it reads on from the file. The
 * replica appends (O_APPEND), so truncating the file once read (the `copytruncate` of logrotate)
 * keeps it small without reopening anything in the replica; a line written between the last read
 * and the truncation is lost, as with logrotate.
 */
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { StringDecoder } from 'node:string_decoder'

/** The file is truncated once read and at least this large. */
const MAX_BYTES = 1 << 20
/** An adopted replica's file is read from at most this far before its end. */
const REPLAY_BYTES = 64 * 1024
/** A line longer than this is passed on in pieces. */
const MAX_LINE = 16 * 1024
const POLL_MS = 250

/** Where a replica's stdout and stderr go, in the actuator's state folder. */
export function replicaLogPath(dir: string, service: string, instance: string): string {
  return join(dir, 'logs', `${service.replace(/[^\w.-]/g, '_')}-${instance}.log`)
}

/**
 * The recorded file, if it is one of this folder's (a state file names it; nothing outside the
 * folder is ever read, truncated or deleted on its word).
 */
export function ownReplicaLog(dir: string, path: string | undefined): string | null {
  return typeof path === 'string' && dirname(path) === join(dir, 'logs') ? path : null
}

/** Opens (creating) the file for the child's stdout and stderr; the caller closes its copy after spawning. */
export function openForAppend(path: string): number {
  mkdirSync(join(path, '..'), { recursive: true })
  return openSync(path, 'a', 0o600)
}

export const closeFd = (fd: number) => closeSync(fd)

/**
 * Follows one replica's log file: every complete line to `onLine`, and the last lines kept for
 * error messages. `stop()` reads what is left (a final partial line too) and deletes the file.
 */
export class ReplicaLogTail {
  readonly #path: string
  readonly #onLine: (line: string) => void
  readonly #timer: NodeJS.Timeout
  #file: FileHandle | null = null
  #offset = -1
  readonly #decoder = new StringDecoder('utf8')
  #partial = ''
  #recent = ''
  #reading: Promise<void> = Promise.resolve()
  #stopped = false
  #skipping = false

  /** `replay`: start near the file's end (an adopted replica) rather than at its start */
  constructor(path: string, onLine: (line: string) => void, opts: { replay?: boolean } = {}) {
    this.#path = path
    this.#onLine = onLine
    if (!opts.replay) this.#offset = 0
    this.#timer = setInterval(() => void this.read(), POLL_MS)
    this.#timer.unref()
  }

  /** The last 2,000 characters written, for a message about why the replica exited. */
  recent(): string {
    return (this.#recent + this.#partial).slice(-2000)
  }

  /** Reads whatever was appended since the last read (serialised: one read at a time). */
  read(): Promise<void> {
    this.#reading = this.#reading.then(() => this.#readOnce()).catch(() => {})
    return this.#reading
  }

  async #readOnce(): Promise<void> {
    if (this.#stopped) return
    this.#file ??= await open(this.#path, 'r+')
    const { size } = await this.#file.stat()
    if (this.#offset < 0) {
      this.#offset = Math.max(0, size - REPLAY_BYTES)
      // from the middle of a line: that line's end is not passed on as a line of its own
      this.#skipping = this.#offset > 0
    }
    // truncated by someone else (a previous reader): start over
    if (size < this.#offset) this.#offset = 0
    while (this.#offset < size) {
      const buf = Buffer.alloc(Math.min(size - this.#offset, 64 * 1024))
      const { bytesRead } = await this.#file.read(buf, 0, buf.length, this.#offset)
      if (bytesRead === 0) break
      this.#offset += bytesRead
      this.#take(this.#decoder.write(buf.subarray(0, bytesRead)))
    }
    if (this.#offset >= MAX_BYTES && (await this.#file.stat()).size === this.#offset) {
      await this.#file.truncate(0)
      this.#offset = 0
    }
  }

  #take(text: string): void {
    if (this.#skipping) {
      const end = text.indexOf('\n')
      if (end < 0) return
      this.#skipping = false
      text = text.slice(end + 1)
    }
    const lines = (this.#partial + text).split('\n')
    this.#partial = lines.pop() ?? ''
    if (this.#partial.length > MAX_LINE) {
      lines.push(this.#partial)
      this.#partial = ''
    }
    for (const line of lines) {
      this.#recent = `${this.#recent}${line}\n`.slice(-2000)
      if (line.trim() !== '') this.#onLine(line)
    }
  }

  /** Final read, then the file is closed and deleted (the replica exited or is stopped). */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    await this.read()
    this.#stopped = true
    if (this.#partial.trim() !== '') this.#onLine(this.#partial)
    this.#recent += this.#partial
    this.#partial = ''
    await this.#file?.close().catch(() => {})
    rmSync(this.#path, { force: true })
  }
}
