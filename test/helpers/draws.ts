/** @module Random draws for tests that simulate traffic: counts that are Poisson, or over-dispersed Poisson. */

/** Poisson draw: Knuth's product of uniforms for small means, a rounded normal beyond 50. */
export function poisson(r: () => number, mean: number): number {
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal(r)))
  const l = Math.exp(-mean)
  let k = 0
  let p = 1
  do {
    k++
    p *= r()
  } while (p > l)
  return k - 1
}

/** Standard normal draw (Box–Muller). */
export function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())
}

/**
 * A Gamma(shape, 1/shape) draw, mean 1 and variance 1/shape (Marsaglia–Tsang; shape ≥ 1): the
 * multiplier of a Poisson mean that makes the counts over-dispersed (negative binomial).
 */
export function gammaUnit(r: () => number, shape: number): number {
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    const z = normal(r)
    const v = (1 + c * z) ** 3
    if (v > 0 && Math.log(1 - r()) < 0.5 * z * z + d - d * v + d * Math.log(v)) return (d * v) / shape
  }
}
