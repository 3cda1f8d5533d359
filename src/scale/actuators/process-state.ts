/**
 * @module Where the process actuator records the replicas it runs, so that replicas left running by
 * a control plane that was killed (SIGKILL, OOM, crash) are found by the next one on the host.
 *
 * ```
 * <dir>/process-replicas/<owner pid>-<owner instance>.json   one file per live actuator, its replicas
 * ```
 * One file per actuator, not one shared file: two control planes on one host (a leader and a
 * standby, or an old leader still stopping) write at the same time, and each only ever rewrites
 * its own file, so none loses another's records. A file whose owner process is gone (its pid no
 * longer runs, or runs a process started at another time) holds orphans. Every write is a temp
 * file renamed over the old one: a crash mid-write leaves the previous version, never half a file.
 *
 * A process is identified by its pid AND its start time (`/proc/<pid>/stat`, field 22) AND its
 * command line (`/proc/<pid>/cmdline`): a pid reused by another process never matches, so it is
 * never signalled. Without `/proc` (not Linux) nothing is recorded.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'

/** One replica as recorded. */
export interface ReplicaRecord {
  service: string
  /** random, so two records of one pid (a reused pid) are never confused */
  instance: string
  pid: number
  /** the process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22) */
  procStart: string
  port: number
  url: string
  /** the program and its arguments as spawned (`$PORT` replaced) */
  command: string[]
  startedAtMs: number
  /** the file its stdout and stderr go to (absent in records written before replicas logged to a file) */
  log?: string
}

interface StateFile {
  version: 1
  owner: { pid: number; procStart: string; instance: string }
  replicas: ReplicaRecord[]
}

/** What one dead owner left: its file and the records still in it. */
export interface OrphanFile {
  path: string
  owner: StateFile['owner']
  replicas: ReplicaRecord[]
}

/** The start time of a running, non-zombie process, or null (gone, a zombie, or no /proc). */
export function procStartOf(pid: number): string | null {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  // the command name (field 2) is in parentheses and may hold spaces or parentheses itself
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // rest[0] is field 3 (the state), so field 22 is rest[19]
  if (rest[0] === 'Z' || rest[0] === 'X' || rest.length < 20) return null
  return rest[19]
}

function cmdlineOf(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    return raw === '' ? null : raw.replace(/\0$/, '').split('\0')
  } catch {
    return null
  }
}

/**
 * The running command matches the recorded one: the same argv, or (a program run through its
 * `#!` interpreter, e.g. `vigil` is `node /usr/local/bin/vigil …`) the same arguments after an
 * interpreter, with the recorded program among what precedes them.
 */
export function commandMatches(running: readonly string[], recorded: readonly string[]): boolean {
  if (running.length === recorded.length && running.every((a, i) => a === recorded[i])) return true
  const args = recorded.slice(1)
  const head = running.length - args.length
  if (head < 2 || !args.every((a, i) => running[head + i] === a)) return false
  const program = basename(recorded[0])
  return running.slice(1, head).some((a) => a === recorded[0] || basename(a) === program)
}

/**
 * True once the recorded replica has exited: its pid is gone, a zombie, or another process's (a
 * different start time), or runs another command. Not while it is exiting: its command line reads
 * empty as soon as its memory is released, but it holds its sockets until it is a zombie.
 */
export function recordedProcessGone(r: Pick<ReplicaRecord, 'pid' | 'procStart' | 'command'>): boolean {
  if (procStartOf(r.pid) !== r.procStart) return true
  const cmd = cmdlineOf(r.pid)
  return cmd !== null && !commandMatches(cmd, r.command)
}

/** True while `pid` is still the recorded replica: same start time, same command. */
export function isRecordedProcess(r: Pick<ReplicaRecord, 'pid' | 'procStart' | 'command'>): boolean {
  if (procStartOf(r.pid) !== r.procStart) return false
  const cmd = cmdlineOf(r.pid)
  return cmd !== null && commandMatches(cmd, r.command)
}

function problemOf(data: unknown): string | null {
  const d = data as Partial<StateFile> | null
  if (d === null || typeof d !== 'object') return 'not a JSON object'
  if (d.version !== 1) return `version ${String(d.version)}, expected 1`
  const o = d.owner as Partial<StateFile['owner']> | undefined
  if (o === undefined || !Number.isInteger(o.pid) || typeof o.procStart !== 'string')
    return 'owner: expected { pid, procStart, instance }'
  if (!Array.isArray(d.replicas)) return 'replicas: expected a list'
  for (const [i, r] of (d.replicas as Partial<ReplicaRecord>[]).entries())
    if (
      typeof r !== 'object' ||
      r === null ||
      typeof r.service !== 'string' ||
      !Number.isInteger(r.pid) ||
      (r.pid ?? 0) <= 1 ||
      typeof r.procStart !== 'string' ||
      !Number.isInteger(r.port) ||
      typeof r.url !== 'string' ||
      !Array.isArray(r.command) ||
      r.command.length === 0 ||
      !r.command.every((a) => typeof a === 'string')
    )
      return `replicas[${i}]: expected { service, pid, procStart, port, url, command, startedAtMs }`
  return null
}

/** This actuator's own file, and the files of dead owners in the same folder. */
export class ReplicaStateDir {
  readonly dir: string
  readonly #path: string
  readonly #owner: StateFile['owner']
  readonly #onWarn: (message: string) => void
  /** files already warned about: one warning each, not one per look */
  readonly #warned = new Set<string>()

  /** Null without /proc: a replica could never be told from a process that reused its pid. */
  static open(dataDir: string, onWarn: (message: string) => void): ReplicaStateDir | null {
    const procStart = procStartOf(process.pid)
    if (procStart === null) return null
    return new ReplicaStateDir(join(dataDir, 'process-replicas'), procStart, onWarn)
  }

  private constructor(dir: string, procStart: string, onWarn: (message: string) => void) {
    this.dir = dir
    this.#owner = { pid: process.pid, procStart, instance: randomBytes(4).toString('hex') }
    this.#path = join(dir, `${process.pid}-${this.#owner.instance}.json`)
    this.#onWarn = onWarn
  }

  /** Replaces this actuator's records; none left removes its file. */
  write(replicas: readonly ReplicaRecord[]): void {
    if (replicas.length === 0) return void rmSync(this.#path, { force: true })
    writeAtomically(this.#path, { version: 1, owner: this.#owner, replicas: [...replicas] })
  }

  /**
   * Files whose owner process is gone. A file that cannot be read or is not a state file is named
   * in a warning and left alone (it is nobody's to delete; its replicas, if any, stay as they are).
   */
  orphans(): OrphanFile[] {
    let names: string[]
    try {
      names = readdirSync(this.dir)
    } catch {
      return []
    }
    const out: OrphanFile[] = []
    for (const name of names) {
      if (!name.endsWith('.json')) continue
      const path = join(this.dir, name)
      if (path === this.#path) continue
      let data: unknown
      try {
        data = JSON.parse(readFileSync(path, 'utf8'))
      } catch (err) {
        this.#warn(
          path,
          `replica state file ${path} is unreadable (${(err as Error).message}): its replicas, if any, are neither adopted nor stopped; delete the file once they are stopped by hand`,
        )
        continue
      }
      const problem = problemOf(data)
      if (problem !== null) {
        this.#warn(
          path,
          `replica state file ${path} is not one this version reads (${problem}): its replicas, if any, are neither adopted nor stopped; delete the file once they are stopped by hand`,
        )
        continue
      }
      const f = data as StateFile
      if (procStartOf(f.owner.pid) === f.owner.procStart) continue // its owner runs: not orphans
      out.push({ path, owner: f.owner, replicas: f.replicas })
    }
    return out
  }

  #warn(path: string, message: string): void {
    if (this.#warned.has(path)) return
    this.#warned.add(path)
    this.#onWarn(message)
  }

  /** Keeps only `replicas` in a dead owner's file; none left removes it. */
  rewriteOrphan(file: OrphanFile, replicas: readonly ReplicaRecord[]): void {
    if (replicas.length === 0) return void rmSync(file.path, { force: true })
    writeAtomically(file.path, { version: 1, owner: file.owner, replicas: [...replicas] })
  }
}

function writeAtomically(path: string, data: StateFile): void {
  mkdirSync(join(path, '..'), { recursive: true })
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(data, null, 2), { mode: 0o600 })
  renameSync(tmp, path)
}
