/** @module Small numerical helpers for the detectors: normal and Poisson tails in log space, a seeded RNG. */

const LN_SQRT_2PI = 0.5 * Math.log(2 * Math.PI)

/** Complementary error function, Chebyshev fit with relative error < 1.2e-7 (Numerical Recipes §6.2). */
export function erfc(x: number): number {
  const r = Math.exp(logErfcPos(Math.abs(x)))
  return x >= 0 ? r : 2 - r
}

/** Upper tail of the standard normal, Q(z) = P(Z > z). */
export function normalTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2)
}

/** ln Q(z), accurate far into the tail where Q(z) underflows (asymptotic Mills-ratio series). */
export function logNormalTail(z: number): number {
  if (z < 6) return Math.log(Math.max(normalTail(z), 1e-300))
  const z2 = z * z
  return -z2 / 2 - Math.log(z) - LN_SQRT_2PI + Math.log(1 - 1 / z2 + 3 / (z2 * z2))
}

/** -ln of the two-sided normal tail probability of |z|: the surprise of a z-score, in nats. */
export function zSurprise(z: number): number {
  const a = Math.abs(z)
  if (a < 1e-12) return 0
  return Math.max(0, -(Math.LN2 + logNormalTail(a)))
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7). */
export function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ]
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lnGamma(1 - x)
  x -= 1
  let a = c[0]
  const t = x + 7.5
  for (let i = 1; i < 9; i++) a += c[i] / (x + i)
  return LN_SQRT_2PI + (x + 0.5) * Math.log(t) - t + Math.log(a)
}

/**
 * ln of the regularised incomplete gamma functions: returns [ln P(a,x), ln Q(a,x)] computed by the
 * series (x < a+1) or the continued fraction (Numerical Recipes §6.2), so tiny tails stay finite.
 * The returned pair is reused by the next call: read it before calling again.
 */
const PQ: [number, number] = [0, 0]

/** Same as logGammaPQ but writes into a shared pair (no allocation on the hot path); read it at once. */
function pq(lnP: number, lnQ: number): [number, number] {
  PQ[0] = lnP
  PQ[1] = lnQ
  return PQ
}

/** ln erfc(z) for z ≥ 0 without underflow: the Chebyshev fit of `erfc` in log space. */
function logErfcPos(z: number): number {
  const t = 1 / (1 + 0.5 * z)
  return (
    Math.log(t) -
    z * z -
    1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t *
                      (0.27886807 +
                        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
  )
}

/** From this shape parameter on, the incomplete gamma uses Temme's uniform expansion. */
const TEMME_MIN_A = 500

/**
 * Temme's uniform asymptotic expansion (DLMF 8.12.3–8.12.8) with its first term:
 * Q(a,x) = ½ erfc(η√(a/2)) + R, P = ½ erfc(−η√(a/2)) − R, R ≈ e^(−aη²/2) C₀(η) / √(2πa),
 * η = sign(λ−1)·√(2(λ − 1 − ln λ)), λ = x/a, C₀ = 1/(λ−1) − 1/η. The next term is C₁/a with
 * |C₁| ≈ 0.002, so from a = 500 the relative error of R is below 1e-5 (tested against the series
 * and continued fraction). The series needs ~8√a terms near x ≈ a, which made the Poisson member
 * on counts around 1000 a seventh of the ensemble's time.
 */
function temmePQ(a: number, x: number): [number, number] {
  const d = x / a - 1
  // λ − 1 − ln λ, without cancellation for λ near 1
  const g = Math.abs(d) < 1e-3 ? d * d * (0.5 - d / 3 + (d * d) / 4) : d - Math.log1p(d)
  const eta = Math.sign(d) * Math.sqrt(2 * g)
  const c0 =
    Math.abs(eta) < 0.05
      ? -1 / 3 + eta / 12 - (2 * eta * eta) / 135 + (eta * eta * eta) / 864 + (eta * eta * eta * eta) / 2835
      : 1 / d - 1 / eta
  const z = Math.abs(eta) * Math.sqrt(a / 2)
  const lnHalfErfc = logErfcPos(z) - Math.LN2
  // R relative to ½ erfc(|z|), both carrying e^(−z²)
  const ratio = (Math.exp(-z * z - lnHalfErfc) * c0) / Math.sqrt(2 * Math.PI * a)
  if (eta >= 0) {
    const lnQ = lnHalfErfc + Math.log1p(ratio)
    return pq(Math.log1p(-Math.min(Math.exp(lnQ), 1 - 1e-16)), lnQ)
  }
  const lnP = lnHalfErfc + Math.log1p(-ratio)
  return pq(lnP, Math.log1p(-Math.min(Math.exp(lnP), 1 - 1e-16)))
}

export function logGammaPQ(a: number, x: number): [number, number] {
  if (x <= 0) return pq(-Infinity, 0)
  if (a >= TEMME_MIN_A) return temmePQ(a, x)
  return logGammaPQSeries(a, x)
}

/**
 * [ln P(a,x), ln Q(a,x)] by the series or the continued fraction, at most `maxTerms` terms (they
 * need ~8√a near x ≈ a: enough below a = 500, where `logGammaPQ` uses it); tests pass a larger cap
 * for a reference.
 */
export function logGammaPQSeries(a: number, x: number, maxTerms = 500): [number, number] {
  if (x <= 0) return pq(-Infinity, 0)
  const lnPre = -x + a * Math.log(x) - lnGamma(a)
  if (x < a + 1) {
    let sum = 1 / a
    let del = sum
    let ap = a
    for (let n = 0; n < maxTerms; n++) {
      ap += 1
      del *= x / ap
      sum += del
      if (Math.abs(del) < Math.abs(sum) * 1e-14) break
    }
    const lnP = lnPre + Math.log(sum)
    return pq(lnP, Math.log1p(-Math.min(Math.exp(lnP), 1 - 1e-16)))
  }
  const tiny = 1e-300
  let b = x + 1 - a
  let c = 1 / tiny
  let d = 1 / b
  let h = d
  for (let i = 1; i < maxTerms; i++) {
    const an = -i * (i - a)
    b += 2
    d = an * d + b
    if (Math.abs(d) < tiny) d = tiny
    c = b + an / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < 1e-14) break
  }
  const lnQ = lnPre + Math.log(h)
  return pq(Math.log1p(-Math.min(Math.exp(lnQ), 1 - 1e-16)), lnQ)
}

/**
 * Surprise (-ln p) of a count `k` under a quasi-Poisson with mean `mean` and dispersion `phi`
 * (variance = phi * mean): the count and mean are divided by phi, and the continuous Poisson tail
 * P(X >= k) = P(k, λ) (upper side) or P(X <= k) = Q(k+1, λ) (lower side) is used.
 */
export function poissonSurprise(k: number, mean: number, phi: number, side: 'upper' | 'lower'): number {
  const lam = Math.max(mean, 1e-9) / phi
  const kk = k / phi
  if (side === 'upper') {
    if (kk <= lam) return 0
    return Math.max(0, -logGammaPQ(kk, lam)[0])
  }
  if (kk >= lam) return 0
  return Math.max(0, -logGammaPQ(kk + 1, lam)[1])
}

/** mulberry32: a tiny deterministic PRNG whose whole state is one 32-bit integer (so it snapshots). */
export function nextRandom(state: { rng: number }): number {
  let t = (state.rng = (state.rng + 0x6d2b79f5) | 0)
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
