/**
 * @module Window scoring of streaming anomaly scores by the published Numenta Anomaly Benchmark
 * rules (the same rules as the development set's `tools/nab_score.py`): probation, earliest
 * detection per window weighted by a sigmoid of its position, false-positive costs that are
 * reduced just after a window, one threshold per profile for the whole corpus, normalised 0..100.
 */

/** The cost matrix of one scoring profile. */
export interface ScoringProfile {
  readonly tp: number
  readonly fp: number
  readonly fn: number
}

export const PROFILE_NAMES = ['standard', 'reward_low_FP_rate', 'reward_low_FN_rate'] as const
export type ProfileName = (typeof PROFILE_NAMES)[number]

/** The three published profiles (the development set's config/profiles.json holds the same). */
export const DEFAULT_PROFILES: Readonly<Record<ProfileName, ScoringProfile>> = {
  standard: { tp: 1, fp: 0.11, fn: 1 },
  reward_low_FP_rate: { tp: 1, fp: 0.22, fn: 1 },
  reward_low_FN_rate: { tp: 1, fp: 0.11, fn: 2 },
}

const PROBATION_FRACTION = 0.15
const PROBATION_MAX_ROWS = 750
/** A threshold above every score in [0,1]: nothing detected. */
const ABOVE_ALL = 1.1

/** sigma(y) = 2 / (1 + e^(5y)) − 1, and −1 beyond three window widths after a window. */
export function scaledSigmoid(y: number): number {
  if (y > 3) return -1
  return 2 / (1 + Math.exp(5 * y)) - 1
}

const MAX_TP = scaledSigmoid(-1)

/** Per-row facts of one labelled file that do not depend on the profile. */
export interface LabelledFile {
  readonly name: string
  readonly rows: number
  /** rows before this index are probation (ignored) */
  readonly firstScored: number
  /** per row: index of its window within the file, or −1 outside every window */
  readonly window: Int32Array
  /** per row: inside a window the TP weight σ(y)/σ(−1); outside, the FP weight σ(y) (≤ 0) */
  readonly unit: Float64Array
  readonly windows: number
}

/**
 * Labels one file: `windows` are [first row, last row] index pairs (inclusive), not overlapping.
 * Throws on overlapping or out-of-range windows.
 */
export function labelFile(
  name: string,
  rows: number,
  windows: readonly (readonly [number, number])[],
): LabelledFile {
  const spans = windows.map(([a, b]) => [a, b] as const).sort((x, y) => x[0] - y[0])
  for (const [a, b] of spans)
    if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b >= a && b < rows))
      throw new RangeError(`${name}: window rows ${a}..${b} not within 0..${rows - 1}`)
  for (let k = 1; k < spans.length; k++)
    if (spans[k][0] <= spans[k - 1][1]) throw new RangeError(`${name}: overlapping windows`)
  const window = new Int32Array(rows).fill(-1)
  const unit = new Float64Array(rows)
  let k = 0
  let prevEnd = -1
  let prevWidth = 0
  for (let i = 0; i < rows; i++) {
    while (k < spans.length && spans[k][1] < i) {
      prevEnd = spans[k][1]
      prevWidth = spans[k][1] - spans[k][0] + 1
      k++
    }
    if (k < spans.length && spans[k][0] <= i && i <= spans[k][1]) {
      const [a, b] = spans[k]
      window[i] = k
      unit[i] = scaledSigmoid(-(b - i + 1) / (b - a + 1)) / MAX_TP
    } else if (prevEnd < 0) unit[i] = -1
    else {
      const denom = prevWidth - 1
      unit[i] = scaledSigmoid(denom > 0 ? Math.abs(i - prevEnd) / denom : Infinity)
    }
  }
  const firstScored = Math.min(Math.floor(PROBATION_FRACTION * rows), PROBATION_MAX_ROWS)
  return { name, rows, firstScored, window, unit, windows: spans.length }
}

/** The result of one profile at its chosen threshold. */
export interface ProfileResult {
  /** normalised: 0 = a constant detector, 100 = every window at its left edge, no false detections */
  readonly score: number
  readonly raw: number
  readonly threshold: number
  readonly nullRaw: number
  readonly perfectRaw: number
  readonly windows: number
  readonly windowsDetected: number
  /** detections (rows at or above the threshold) outside every window */
  readonly falseRows: number
}

interface Gathered {
  s: Float64Array
  w: Int32Array
  u: Float64Array
}

function gather(files: readonly LabelledFile[], scores: readonly (readonly number[])[]): Gathered {
  let n = 0
  for (const f of files) n += f.rows - f.firstScored
  const s = new Float64Array(n)
  const w = new Int32Array(n)
  const u = new Float64Array(n)
  let j = 0
  let windowBase = 0
  files.forEach((f, fi) => {
    const sc = scores[fi]
    if (sc.length !== f.rows) throw new RangeError(`${f.name}: ${sc.length} scores for ${f.rows} rows`)
    for (let i = f.firstScored; i < f.rows; i++, j++) {
      const x = sc[i]
      if (!Number.isFinite(x)) throw new RangeError(`${f.name}: row ${i + 1}: non-finite anomaly score ${x}`)
      s[j] = x
      w[j] = f.window[i] < 0 ? -1 : windowBase + f.window[i]
      u[j] = f.unit[i]
    }
    windowBase += f.windows
  })
  return { s, w, u }
}

/** Raw score after each distinct threshold, in descending threshold order (index 0: nothing detected). */
function sweep(g: Gathered, order: Uint32Array, prof: ScoringProfile): { thr: number[]; raw: number[] } {
  const best = new Map<number, number>()
  for (const w of g.w) if (w >= 0) best.set(w, NaN)
  let total = -prof.fn * best.size
  const thr = [ABOVE_ALL]
  const raw = [total]
  for (let j = 0; j < order.length; j++) {
    const i = order[j]
    const w = g.w[i]
    if (w < 0) total += prof.fp * g.u[i]
    else {
      const v = prof.tp * g.u[i]
      const old = best.get(w) as number
      if (Number.isNaN(old)) {
        total += v + prof.fn
        best.set(w, v)
      } else if (v > old) {
        total += v - old
        best.set(w, v)
      }
    }
    if (j + 1 === order.length || g.s[order[j + 1]] !== g.s[i]) {
      thr.push(g.s[i])
      raw.push(total)
    }
  }
  return { thr, raw }
}

/**
 * Scores a corpus: per profile, every distinct score is a candidate threshold, the one with the
 * highest raw total wins (ties: the highest threshold), and the total is normalised between a
 * constant detector (the better of never and always detecting) and a perfect one.
 * `scores[k]` are the anomaly scores of `files[k]`, one per row.
 */
export function scoreCorpus(
  files: readonly LabelledFile[],
  scores: readonly (readonly number[])[],
  profiles: Readonly<Record<ProfileName, ScoringProfile>> = DEFAULT_PROFILES,
): Record<ProfileName, ProfileResult> {
  if (scores.length !== files.length)
    throw new RangeError(`${scores.length} score series for ${files.length} files`)
  const g = gather(files, scores)
  const idx = Array.from({ length: g.s.length }, (_, i) => i)
  idx.sort((a, b) => g.s[b] - g.s[a] || a - b)
  const order = Uint32Array.from(idx)
  const labelWindows = files.reduce((n, f) => n + f.windows, 0)
  const out = {} as Record<ProfileName, ProfileResult>
  for (const name of PROFILE_NAMES) {
    const prof = profiles[name]
    const { thr, raw } = sweep(g, order, prof)
    let k = 0
    for (let i = 1; i < raw.length; i++) if (raw[i] > raw[k]) k = i
    const nullRaw = Math.max(raw[0], raw[raw.length - 1])
    const perfectRaw = prof.tp * labelWindows
    const threshold = thr[k]
    let falseRows = 0
    const hit = new Set<number>()
    for (let i = 0; i < g.s.length; i++) {
      if (g.s[i] < threshold) continue
      if (g.w[i] < 0) falseRows++
      else hit.add(g.w[i])
    }
    out[name] = {
      score: (100 * (raw[k] - nullRaw)) / (perfectRaw - nullRaw),
      raw: raw[k],
      threshold,
      nullRaw,
      perfectRaw,
      windows: labelWindows,
      windowsDetected: hit.size,
      falseRows,
    }
  }
  return out
}
