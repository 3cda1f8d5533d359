/** @module The shape of one `vigil` sub-command. */
export interface Command {
  /** one line for `vigil help` */
  readonly summary: string
  /** full usage text for `vigil help NAME` and usage errors */
  readonly usage: string
  /** runs the command; resolves to the process exit code */
  run(argv: string[]): Promise<number>
}
