// The in-memory limit store with a million live buckets (many distinct clients, e.g. rotating
// IPv6 addresses): the cost of one take while the store is over its sweep threshold, and how fast
// expired buckets are reclaimed. Imports dist/ (npm run bench -- limits-sweep).
//
//   npm run bench -- limits-sweep
//   BENCH_BASELINE=/path/to/other/built/checkout npm run bench -- limits-sweep   (before/after)
//
// With BENCH_BASELINE, the same steps run against that checkout's MemoryLimitStore in the same
// process, interleaved (after, baseline, after, baseline ...), so both see the same machine load.
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { MemoryLimitStore } from '../dist/limits/memory.js'

const LIVE = Number(process.env.SWEEP_BENCH_LIVE ?? 1_000_000)
const ROUNDS = Number(process.env.SWEEP_BENCH_ROUNDS ?? 3)
/** a sample stops after this many takes or this much time, whichever comes first */
const SAMPLE_TAKES = 200_000
const SAMPLE_MS = 1000
/** MemoryLimitStore's default sweep threshold */
const DEFAULT_SWEEP_AT = 100_000

const stores = [{ name: 'MemoryLimitStore (this checkout)', Store: MemoryLimitStore }]
if (process.env.BENCH_BASELINE) {
  const url = pathToFileURL(join(process.env.BENCH_BASELINE, 'dist/limits/memory.js')).href
  const { MemoryLimitStore: Baseline } = await import(url)
  stores.push({ name: `MemoryLimitStore (baseline ${process.env.BENCH_BASELINE})`, Store: Baseline })
}

// Live for the whole run: the TAT lies a day ahead (1 ms per token, a day of tolerance).
const live = (key) => [{ key, intervalMs: 1, toleranceMs: 86_400_000 }]
// Expires 100 ms after its take.
const brief = (key) => [{ key, intervalMs: 100, toleranceMs: 1_000 }]

// The sweep threshold is the population itself: filling never sweeps (with a full scan per take
// past the threshold, filling a million would take hours), and every measured take runs over it.
function fill(Store, n, spec, nowMs, sweepAtKeys = n) {
  const store = new Store({ sweepAtKeys })
  for (let i = 0; i < n; i++) store.take(spec(`client:${i}`), 1, nowMs)
  return store
}

/** µs per take of `step(i)` over one sample (bounded by SAMPLE_TAKES and SAMPLE_MS), and the slowest take. */
function sample(step) {
  let n = 0
  let worst = 0
  const t0 = performance.now()
  const end = t0 + SAMPLE_MS
  while (n < SAMPLE_TAKES) {
    const a = performance.now()
    for (let j = 0; j < 100; j++) step(n + j)
    const b = performance.now()
    n += 100
    if ((b - a) / 100 > worst) worst = (b - a) / 100
    if (b >= end) break
  }
  return { usPerTake: ((performance.now() - t0) * 1000) / n, worstUs: worst * 1000, takes: n }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const results = new Map(stores.map((s) => [s.name, { existing: [], fresh: [], reclaim: [] }]))

console.log(
  `limits-sweep bench ${new Date().toISOString()} · Node ${process.version} · ${LIVE.toLocaleString('en-US')} live buckets · ${ROUNDS} rounds`,
)
for (let round = 0; round < ROUNDS; round++) {
  for (const { name, Store } of round % 2 === 0 ? stores : [...stores].reverse()) {
    const r = results.get(name)
    const now = Date.now()
    // 1. takes on existing clients' buckets while a million are live (nothing can be swept)
    let store = fill(Store, LIVE, live, now)
    r.existing.push(sample((i) => store.take(live(`client:${(i * 7919) % LIVE}`), 1, now)))
    // 2. takes from new clients (each one a new key) on top of them
    r.fresh.push(sample((i) => store.take(live(`new:${round}:${i}`), 1, now)))
    store = null
    // 3. reclaiming: a million buckets that expired, then new clients arrive (one new, live key
    //    per take); how many takes (and how long) until under 10 % of the expired ones are left. This checkout fills with the
    //    default threshold (100k: the sweep runs during the fill too, and stops under 100k keys);
    //    the baseline fills below its threshold, then its first take scans and empties the map.
    store = fill(Store, LIVE, brief, now, Store === MemoryLimitStore ? DEFAULT_SWEEP_AT : LIVE)
    const later = now + 10_000
    const t0 = performance.now()
    let takes = 0
    while (store.size - takes > LIVE / 10 && performance.now() - t0 < 60_000) {
      store.take(brief(`after:${takes}`), 1, later)
      takes++
    }
    r.reclaim.push({ takes, ms: performance.now() - t0, size: store.size })
    store = null
    const e = r.existing.at(-1)
    const f = r.fresh.at(-1)
    const c = r.reclaim.at(-1)
    console.log(
      `round ${round + 1} ${name}: existing ${e.usPerTake.toFixed(3)} µs/take (worst 100-take batch ${e.worstUs.toFixed(1)} µs/take, ${e.takes} takes)` +
        ` · new clients ${f.usPerTake.toFixed(3)} µs/take (worst ${f.worstUs.toFixed(1)})` +
        ` · reclaim 90 %: ${c.takes.toLocaleString('en-US')} takes in ${c.ms.toFixed(0)} ms`,
    )
  }
}

console.log(
  `\n| store | take on an existing bucket, µs (median of ${ROUNDS}) | worst batch, µs/take | take from a new client, µs | reclaim 90 % of 1M expired: takes, ms |`,
)
console.log('|---|---|---|---|---|')
for (const [name, r] of results) {
  console.log(
    `| ${name} | ${median(r.existing.map((x) => x.usPerTake)).toFixed(3)} | ${median(r.existing.map((x) => x.worstUs)).toFixed(1)} | ${median(r.fresh.map((x) => x.usPerTake)).toFixed(3)} | ${median(r.reclaim.map((x) => x.takes)).toLocaleString('en-US')}, ${median(r.reclaim.map((x) => x.ms)).toFixed(0)} |`,
  )
}
