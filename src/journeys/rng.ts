/**
 * @module A small, fast, seeded random number generator for the simulations: sfc32 (Chris Doty-
 * Humphrey's Small Fast Chaotic generator, 128 bits of state, passes PractRand to 2^47+ bytes),
 * seeded through splitmix32 so nearby seeds give unrelated streams. `Math.random` cannot be
 * seeded, and a simulation that cannot be replayed cannot be debugged.
 */

export interface Rng {
  /** uniform in [0, 1) */
  next(): number
}

/** A seeded generator; the same seed gives the same sequence. */
export function createRng(seed: number): Rng {
  let s = seed >>> 0
  const split = (): number => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = split()
  let b = split()
  let c = split()
  let d = split()
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
  for (let i = 0; i < 12; i++) next()
  return { next }
}

/** A standard normal draw (Box-Muller; one of the pair is discarded for simplicity). */
export function normal(rng: Rng): number {
  let u = rng.next()
  while (u <= Number.MIN_VALUE) u = rng.next()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next())
}

/** A Gamma(shape, 1) draw (Marsaglia and Tsang 2000; shape < 1 by the boost u^(1/shape)). */
export function gamma(rng: Rng, shape: number): number {
  if (shape < 1) return gamma(rng, shape + 1) * Math.pow(Math.max(rng.next(), Number.MIN_VALUE), 1 / shape)
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    let x: number
    let v: number
    do {
      x = normal(rng)
      v = 1 + c * x
    } while (v <= 0)
    v = v * v * v
    const u = rng.next()
    if (u < 1 - 0.0331 * x * x * x * x) return d * v
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
  }
}

/** A Beta(a, b) draw. */
export function beta(rng: Rng, a: number, b: number): number {
  const x = gamma(rng, a)
  const y = gamma(rng, b)
  return x + y === 0 ? a / (a + b) : x / (x + y)
}
