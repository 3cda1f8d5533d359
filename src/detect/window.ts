/** @module A fixed-size rolling window kept both in arrival order and sorted, for O(log n + n/2) median, MAD and quantiles. */

/**
 * Rolling window state, plain data so detectors can snapshot it with structuredClone.
 *
 * ```
 * ring:   [x5 x6 x3 x4]   head → oldest (x3)      arrival order, overwritten in place
 * sorted: [x3 x4 x5 x6]   kept sorted by insertion + removal with copyWithin
 * ```
 */
export interface RollingWindow {
  readonly size: number
  ring: Float64Array
  sorted: Float64Array
  head: number
  count: number
}

export function createWindow(size: number): RollingWindow {
  return { size, ring: new Float64Array(size), sorted: new Float64Array(size), head: 0, count: 0 }
}

/** First index in a[0..n) whose value is ≥ x. */
export function lowerBound(a: Float64Array, n: number, x: number): number {
  let lo = 0
  let hi = n
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (a[mid] < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Adds x, evicting the oldest value when full. A full window moves only the values between the
 * evicted one and x's place (a third of the window on average) instead of removing and inserting
 * with two shifts of half the window each: the calibration histories of 1000 values made these
 * shifts a fifth of the ensemble's time.
 */
export function pushWindow(w: RollingWindow, x: number): void {
  const s = w.sorted
  if (w.count === w.size) {
    const i = lowerBound(s, w.count, w.ring[w.head])
    const j = lowerBound(s, w.count, x)
    if (j > i) {
      // everything below j is below x, the evicted value too: close its gap, x goes just below j
      s.copyWithin(i, i + 1, j)
      s[j - 1] = x
    } else {
      s.copyWithin(j + 1, j, i)
      s[j] = x
    }
  } else {
    const j = lowerBound(s, w.count, x)
    s.copyWithin(j + 1, j, w.count)
    s[j] = x
    w.count++
  }
  w.ring[w.head] = x
  w.head = (w.head + 1) % w.size
}

/** Linear-interpolated quantile q in [0,1] of the window (NaN when empty). */
export function windowQuantile(w: RollingWindow, q: number): number {
  const n = w.count
  if (n === 0) return NaN
  const pos = q * (n - 1)
  const i = Math.floor(pos)
  const f = pos - i
  return i + 1 < n ? w.sorted[i] * (1 - f) + w.sorted[i + 1] * f : w.sorted[i]
}

export function windowMedian(w: RollingWindow): number {
  return windowQuantile(w, 0.5)
}

/**
 * Median absolute deviation around `m` (the lower median for an even count). The deviations left
 * of m, read outward, and right of m, read outward, are two ascending sequences; the median of
 * their union is found by binary search on how many come from the left (the k-th element of two
 * sorted arrays), in O(log n) and without allocation. Robust-z computes it on every point.
 */
export function windowMad(w: RollingWindow, m: number): number {
  const n = w.count
  if (n === 0) return NaN
  const s = w.sorted
  const r = lowerBound(s, n, m)
  // left deviations A[i] = m − s[r − 1 − i] (i < la), right deviations B[j] = s[r + j] − m (j < lb)
  const la = r
  const lb = n - r
  const take = ((n - 1) >> 1) + 1
  let lo = Math.max(0, take - lb)
  let hi = Math.min(take, la)
  for (;;) {
    const i = (lo + hi) >> 1
    const j = take - i
    if (i < la && j > 0 && s[r + j - 1] - m > m - s[r - 1 - i]) lo = i + 1
    else if (i > 0 && j < lb && m - s[r - i] > s[r + j] - m) hi = i - 1
    else {
      const a = i > 0 ? m - s[r - i] : -Infinity
      const b = j > 0 ? s[r + j - 1] - m : -Infinity
      return a > b ? a : b
    }
  }
}

/** Mean absolute deviation around m: a fallback scale when more than half the window is tied. */
export function windowMeanAbsDev(w: RollingWindow, m: number): number {
  let sum = 0
  for (let i = 0; i < w.count; i++) sum += Math.abs(w.sorted[i] - m)
  return w.count === 0 ? NaN : sum / w.count
}

/** The value pushed `lag` steps ago (lag 1 = the latest), or NaN if not held. */
export function windowLag(w: RollingWindow, lag: number): number {
  if (lag < 1 || lag > w.count) return NaN
  return w.ring[(w.head - lag + w.size * 2) % w.size]
}

/**
 * A robust scale for z-scores: 1.4826·MAD, falling back to 1.2533·mean-abs-dev when more than half
 * the values tie (integer counts, flat lines), and finally to a floor relative to the level so a
 * constant series still yields finite z-scores.
 */
export function robustScale(w: RollingWindow, m: number): number {
  const mad = windowMad(w, m)
  if (mad > 0) return 1.4826 * mad
  const mean = windowMeanAbsDev(w, m)
  if (mean > 0) return 1.2533 * mean
  return Math.max(1e-9, Math.abs(m) * 1e-6)
}
