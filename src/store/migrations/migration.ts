/** @module The shape of one numbered migration and the check that a list is well ordered. */
export interface Migration {
  /** 1, 2, 3, ... with no gaps; recorded in schema_migrations */
  readonly id: number
  readonly name: string
  readonly sql: string
}

/** Throws when ids are not 1..n in order (a programming error caught by the contract test). */
export function checkMigrationOrder(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.id !== i + 1) throw new Error(`migration ${m.name} has id ${m.id}, expected ${i + 1}`)
  })
}
