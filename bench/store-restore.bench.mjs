// Writing a deleted SQLite file back from the open database (SqliteStore.restoreFile): how long
// it takes for a database of RESTORE_BENCH_MB, how long the event loop waits meanwhile while a
// write is made every 5 ms (the control plane keeps writing during the copy), and that every one
// of those writes is in the file written back. Baseline: copying the same file with cp.
// Run: npm run bench -- store-restore
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteStore } from '../dist/store/index.js'

const MB = Number(process.env.RESTORE_BENCH_MB ?? 200)
const dir = mkdtempSync(join(tmpdir(), 'vigil-restore-bench-'))
const path = join(dir, 'vigil.db')
try {
  const store = await SqliteStore.open({ path })
  const pad = 'x'.repeat(1000)
  for (let b = 0; b < MB; b++)
    await store.appendEvents(
      Array.from({ length: 1000 }, (_, i) => ({
        atMs: b * 1000 + i,
        kind: 'bench',
        actor: 'b',
        subject: String(i),
        payload: pad,
      })),
    )
  const t0 = performance.now()
  execFileSync('cp', [path, join(dir, 'baseline.db')])
  const cpMs = performance.now() - t0
  rmSync(join(dir, 'baseline.db'))
  rmSync(path)
  let maxGap = 0
  let last = performance.now()
  let writes = 0
  const timer = setInterval(() => {
    const now = performance.now()
    maxGap = Math.max(maxGap, now - last)
    last = now
    void store
      .appendEvents([{ atMs: 0, kind: 'during', actor: 'b', subject: 'x', payload: null }])
      .then(() => writes++)
  }, 5)
  const t1 = performance.now()
  const { bytes } = await store.restoreFile()
  const restoreMs = performance.now() - t1
  clearInterval(timer)
  await store.close()
  const fresh = await SqliteStore.open({ path })
  const kept = (await fresh.queryEvents({ kind: 'during', limit: 1_000_000 })).length
  await fresh.close()
  console.table([
    {
      'database MiB': +(bytes / 1_048_576).toFixed(1),
      'baseline: cp ms': Math.round(cpMs),
      'restoreFile ms': Math.round(restoreMs),
      'max event-loop gap ms': Math.round(maxGap),
      'writes during the copy': writes,
      'of them in the file written back': kept,
      'file size MiB': +(statSync(path).size / 1_048_576).toFixed(1),
    },
  ])
} finally {
  rmSync(dir, { recursive: true, force: true })
}
