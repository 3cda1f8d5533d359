/** @module Season length from the autocorrelation function (computed by FFT, Wiener–Khinchin). */

function fft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1
    for (; j & bit; bit >>= 1) j ^= bit
    j ^= bit
    if (i < j) {
      let t = re[i]
      re[i] = re[j]
      re[j] = t
      t = im[i]
      im[i] = im[j]
      im[j] = t
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = ((inverse ? 2 : -2) * Math.PI) / len
    const wr = Math.cos(ang)
    const wi = Math.sin(ang)
    for (let i = 0; i < n; i += len) {
      let cr = 1
      let ci = 0
      for (let k = 0; k < len / 2; k++) {
        const a = i + k
        const b = a + len / 2
        const xr = re[b] * cr - im[b] * ci
        const xi = re[b] * ci + im[b] * cr
        re[b] = re[a] - xr
        im[b] = im[a] - xi
        re[a] += xr
        im[a] += xi
        const ncr = cr * wr - ci * wi
        ci = cr * wi + ci * wr
        cr = ncr
      }
    }
  }
}

/** Autocorrelation r[0..maxLag] of a linearly detrended series (r[0] = 1; all zeros for a flat series). */
export function autocorrelation(y: ArrayLike<number>, maxLag: number): Float64Array {
  const n = y.length
  let sx = 0
  let sy = 0
  let sxx = 0
  let sxy = 0
  for (let i = 0; i < n; i++) {
    sx += i
    sy += y[i]
    sxx += i * i
    sxy += i * y[i]
  }
  const den = n * sxx - sx * sx
  const b = den === 0 ? 0 : (n * sxy - sx * sy) / den
  const a = (sy - b * sx) / n
  let size = 1
  while (size < 2 * n) size <<= 1
  const re = new Float64Array(size)
  const im = new Float64Array(size)
  for (let i = 0; i < n; i++) re[i] = y[i] - (a + b * i)
  fft(re, im, false)
  for (let i = 0; i < size; i++) {
    re[i] = re[i] * re[i] + im[i] * im[i]
    im[i] = 0
  }
  fft(re, im, true)
  const r = new Float64Array(maxLag + 1)
  if (re[0] <= 1e-12 * size) return r
  for (let k = 0; k <= maxLag; k++) r[k] = re[k] / re[0]
  return r
}

/**
 * The dominant season length of `y`, or 0 for none: the highest autocorrelation peak after the
 * first zero crossing, among lags that fit at least 2.5 times in the data, if that peak reaches
 * `minCorrelation` (default 0.3, about 20 standard errors of white-noise autocorrelation at n = 4096).
 *
 * @example
 * detectSeason(Array.from({ length: 600 }, (_, i) => Math.sin((2 * Math.PI * i) / 24))) // 24
 */
export function detectSeason(y: ArrayLike<number>, minLag = 4, minCorrelation = 0.3): number {
  const maxLag = Math.floor(y.length / 2.5)
  if (maxLag <= minLag) return 0
  const r = autocorrelation(y, maxLag + 1)
  let k = 1
  while (k <= maxLag && r[k] > 0) k++
  let best = 0
  let bestR = minCorrelation
  for (k = Math.max(k, minLag); k <= maxLag; k++) {
    if (r[k] > bestR && r[k] >= r[k - 1] && r[k] >= r[k + 1]) {
      best = k
      bestR = r[k]
    }
  }
  return best
}
