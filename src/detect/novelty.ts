/**
 * @module The default detector: multi-scale nearest-neighbour novelty of the recent context,
 * calibrated against its own recent history, reporting the onset of an incident.
 */
import { Alarm, type AlarmOptions } from './alarm.js'
import { checkFinite, checkInt, type Detector, type DetectorSnapshot } from './detector.js'
import type { EnsembleStep } from './ensemble.js'
import { createWindow, lowerBound, pushWindow, type RollingWindow } from './window.js'
import { VGL_ERR_DETECT_OPTIONS, VGL_ERR_DETECT_SNAPSHOT } from '../errors.js'

export interface NoveltyOptions {
  /** block lengths (points) of the context at each scale; default [1, 4, 16] */
  readonly scales?: readonly number[]
  /** blocks per context; default 4 */
  readonly blocks?: number
  /** remembered contexts per scale (a ring); default 400 */
  readonly memory?: number
  /** a scale stores its context every max(1, scale / storeDivisor) points; default 4 */
  readonly storeDivisor?: number
  /** recent nearest-neighbour distances per scale a new one is ranked among; default 2500 */
  readonly calibration?: number
  /** tail probability at or below which a point opens an incident; default 0.01 */
  readonly eventP?: number
  /**
   * points without such evidence that close an incident; default ln 2 / eventP (69): the median gap
   * between chance events, so that noise alone more often lets an incident close than extends it
   */
  readonly refractory?: number
  /** factor applied to the score of an open incident's continuation; default 0.25 */
  readonly damping?: number
  /** a continuation whose score exceeds the incident's peak × (1 + margin) counts as new; default 0.5 */
  readonly margin?: number
  /** alarm hysteresis for `process`; default raise at 0.6 (p ≈ 2.5e-4), clear below 0.4 */
  readonly alarm?: AlarmOptions
}

type Resolved = Required<Omit<NoveltyOptions, 'alarm' | 'scales'>> & { scales: number[] }

interface NoveltyState {
  n: number
  /** the last values (ring, a power of two ≥ max scale × blocks) */
  recent: Float64Array
  /** per scale: remembered contexts, `memory × blocks` values (ring) */
  mem: Float64Array[]
  memFilled: number[]
  memNext: number[]
  /** per scale: the recent log-distances, in arrival order and sorted */
  cal: RollingWindow[]
  /** peak score of the open incident (0: none) */
  peak: number
  /** points since the open incident last had evidence at or below eventP */
  quiet: number
  /** index of the newest row learned as part of an incident (`update(x, true)`); absent: none */
  heldAt?: number
}

/** Contexts remembered before a scale votes. */
const MIN_MEMORY = 24
/** Distances ranked before a scale votes. */
const MIN_CALIBRATION = 64
/** Smallest spread (median to maximum) of log-distances the tail beyond the maximum assumes. */
const MIN_LOG_SPREAD = 0.1
/** The score is 1 at this tail probability: score = log10(1/p) / 6. */
export const NOVELTY_P_AT_ONE = 1e-6
/** Distances below this share of the context's magnitude are rounding (CSV exports), not change. */
const RELATIVE_FLOOR = 1e-4

/**
 * Streaming contextual novelty, a nearest-neighbour conformal detector in the spirit of KNN-CAD and
 * contextOSE, with the calibration idea of Numenta's anomaly likelihood:
 *
 * 1. At each scale s the context is the means of the last `blocks` blocks of s points (s = 1: the
 *    last four values; s = 16: the shape of the last 64 points). No normalisation is needed:
 *    distances are only ever compared with distances of the same scale of the same series.
 * 2. Its novelty is the distance to the nearest remembered context of that scale. Each scale
 *    remembers a ring of contexts, stored every s/4 points, so coarse scales remember longer
 *    (400 contexts: 400 points at s = 1 and 4, 1,600 at s = 16).
 * 3. The distance is ranked among that scale's last `calibration` distances: p = (number at least
 *    as large + 1) / (count + 1), a conformal tail probability that needs no units and no model of
 *    the noise. The smallest p over the scales, times the number of scales (Bonferroni), is the
 *    evidence. The score is ln(1/p) / ln((calibration + 1) / scales): 1 when a context is farther
 *    from everything remembered than every recent context was at some scale.
 * 4. Onset, not continuation: every context is remembered at once, so a level shift that persists
 *    is normal within a few points; and while an incident is open (evidence p ≤ eventP within the
 *    last `refractory` points) a score that does not exceed the incident's peak by `margin` is
 *    multiplied by `damping`, so the incident's continuation does not alarm again unless it grows.
 *    Chance events (p ≤ eventP) come about once every 1/eventP points; a refractory longer than
 *    their median gap would let noise keep an incident open, and hide the next one, indefinitely.
 *
 * Cost per point: O(scales × memory × blocks) multiply-adds (≈ 4,800 by default, cut short by
 * early exit) and O(calibration) memory moves; memory is bounded.
 */
export class Novelty implements Detector<number> {
  readonly name = 'novelty'
  readonly o: Resolved
  #s: NoveltyState
  #alarm: Alarm
  /** contexts and log-distances of the point last scored, reused by update(x) for the same x */
  #ctx: Float64Array
  #has: Uint8Array
  #dists: Float64Array
  #scoredFor = NaN
  #raw = 0

  constructor(options: NoveltyOptions = {}) {
    const eventP = options.eventP ?? 0.01
    const o: Resolved = {
      scales: [...(options.scales ?? [1, 4, 16])],
      blocks: options.blocks ?? 4,
      memory: options.memory ?? 400,
      storeDivisor: options.storeDivisor ?? 4,
      calibration: options.calibration ?? 2500,
      eventP,
      refractory: options.refractory ?? medianChanceGap(eventP),
      damping: options.damping ?? 0.25,
      margin: options.margin ?? 0.5,
    }
    if (o.scales.length === 0 || o.scales.length > 8)
      throw VGL_ERR_DETECT_OPTIONS(`${this.name}: option scales must list 1 to 8 block lengths`)
    for (const s of o.scales) checkInt(this.name, 'scales[]', s, 1, 1024)
    checkInt(this.name, 'blocks', o.blocks, 1, 64)
    checkInt(this.name, 'memory', o.memory, MIN_MEMORY, 100_000)
    checkInt(this.name, 'storeDivisor', o.storeDivisor, 1, 1024)
    checkInt(this.name, 'calibration', o.calibration, MIN_CALIBRATION, 100_000)
    checkInt(this.name, 'refractory', o.refractory, 1, 100_000)
    for (const [k, v] of [
      ['eventP', o.eventP],
      ['damping', o.damping],
    ] as const)
      if (!(v > 0 && v <= 1))
        throw VGL_ERR_DETECT_OPTIONS(`${this.name}: option ${k} must be in (0, 1], got ${v}`)
    if (!(o.margin >= 0))
      throw VGL_ERR_DETECT_OPTIONS(`${this.name}: option margin must be ≥ 0, got ${o.margin}`)
    this.o = o
    this.#alarm = new Alarm({ raiseAt: 0.6, clearAt: 0.4, ...options.alarm })
    const k = o.scales.length
    this.#s = {
      n: 0,
      recent: new Float64Array(2 ** Math.ceil(Math.log2(Math.max(...o.scales) * o.blocks))),
      mem: o.scales.map(() => new Float64Array(o.memory * o.blocks)),
      memFilled: new Array<number>(k).fill(0),
      memNext: new Array<number>(k).fill(0),
      cal: o.scales.map(() => createWindow(o.calibration)),
      peak: 0,
      quiet: 0,
    }
    this.#ctx = new Float64Array(k * o.blocks)
    this.#has = new Uint8Array(k)
    this.#dists = new Float64Array(k)
  }

  /** Fills the contexts of every scale as if x were the newest value. */
  #contexts(x: number): void {
    const st = this.#s
    const { blocks, scales } = this.o
    const ring = st.recent
    const mask = ring.length - 1
    for (let i = 0; i < scales.length; i++) {
      const s = scales[i]
      this.#has[i] = st.n + 1 >= s * blocks ? 1 : 0
      if (this.#has[i] === 0) continue
      // values newest first: x, then recent[n-1], recent[n-2], ...
      let back = 0
      for (let b = 0; b < blocks; b++) {
        let sum = 0
        for (let j = 0; j < s; j++, back++) sum += back === 0 ? x : ring[(st.n - back) & mask]
        this.#ctx[i * blocks + b] = sum / s
      }
    }
  }

  /** Distance (root mean square per block) from scale i's context to its nearest remembered one. */
  #nearest(i: number): number {
    const st = this.#s
    const filled = st.memFilled[i]
    const { blocks } = this.o
    const mem = st.mem[i]
    const ctx = this.#ctx
    const c0 = i * blocks
    let best = Infinity
    if (blocks === 4) {
      // the default shape, unrolled: most remembered contexts are rejected after one or two blocks
      const a = ctx[c0]
      const b1 = ctx[c0 + 1]
      const b2 = ctx[c0 + 2]
      const b3 = ctx[c0 + 3]
      for (let off = 0, end = filled * 4; off < end; off += 4) {
        let e = mem[off] - a
        let d = e * e
        if (d >= best) continue
        e = mem[off + 1] - b1
        d += e * e
        if (d >= best) continue
        e = mem[off + 2] - b2
        d += e * e
        e = mem[off + 3] - b3
        d += e * e
        if (d < best) best = d
      }
      return Math.sqrt(best / 4)
    }
    for (let m = 0, off = 0; m < filled; m++, off += blocks) {
      let d = 0
      for (let b = 0; b < blocks && d < best; b++) {
        const e = mem[off + b] - ctx[c0 + b]
        d += e * e
      }
      if (d < best) best = d
    }
    return Math.sqrt(best / blocks)
  }

  /** Conformal tail probability of log-distance v among scale i's recent log-distances. */
  #tail(i: number, v: number): number {
    const st = this.#s
    const { count: n, sorted } = st.cal[i]
    const above = n - lowerBound(sorted, n, v)
    if (above > 0) return (above + 1) / (n + 1)
    // beyond every recent distance: continue the exponential tail that runs from p = 1/2 at the
    // median to 1/(n+1) at the maximum, so how far beyond still counts
    const max = sorted[n - 1]
    const slope = Math.log((n + 1) / 2) / Math.max(max - sorted[n >> 1], MIN_LOG_SPREAD)
    return Math.exp(-slope * (v - max)) / (n + 1)
  }

  /** Undamped score of x: the evidence over the scales, without learning. */
  #evidence(x: number): number {
    if (x === this.#scoredFor) return this.#raw
    const st = this.#s
    const { scales, blocks } = this.o
    this.#contexts(x)
    let pMin = 1
    let voters = 0
    for (let i = 0; i < scales.length; i++) {
      this.#dists[i] = NaN
      if (this.#has[i] === 0 || st.memFilled[i] < MIN_MEMORY) continue
      const v = logDistance(this.#nearest(i), this.#ctx, i * blocks, blocks)
      this.#dists[i] = v
      // a scale votes from its first remembered contexts, so scores do not jump when it starts ranking
      voters++
      if (st.cal[i].count >= MIN_CALIBRATION) pMin = Math.min(pMin, this.#tail(i, v))
    }
    const p = Math.min(1, pMin * Math.max(1, voters))
    this.#raw = Math.min(1, Math.log(1 / p) / Math.log(1 / NOVELTY_P_AT_ONE))
    this.#scoredFor = x
    return this.#raw
  }

  /** The score that opens an incident (p = eventP). */
  get #eventScore(): number {
    return Math.log(1 / this.o.eventP) / Math.log(1 / NOVELTY_P_AT_ONE)
  }

  /** True while an incident is open and this score does not clearly exceed its peak. */
  #continues(raw: number): boolean {
    const st = this.#s
    return st.peak > 0 && raw <= st.peak * (1 + this.o.margin)
  }

  /** Score of x given the past: the evidence, damped while it continues an open incident. */
  score(x: number): number {
    checkFinite(this.name, x)
    const raw = this.#evidence(x)
    return this.#continues(raw) ? raw * this.o.damping : raw
  }

  /**
   * Learns x. `held`: x belongs to an incident the caller has open (the live layer passes its open
   * anomalies). It still enters the contexts, but no context that contains a held row is
   * remembered or ranked: memory and calibration describe normal rows only. Otherwise the first
   * incident's contexts become the nearest neighbours of the next one of the same kind, and its
   * distances fill the top of the ranking, so a repeat scores as ordinary. A level the caller
   * accepts as lasting is learnt once it stops holding: every context is remembered at once.
   */
  update(x: number, held = false): void {
    checkFinite(this.name, x)
    const raw = this.#evidence(x)
    const st = this.#s
    const { scales, storeDivisor, blocks } = this.o
    if (held) st.heldAt = st.n
    for (let i = 0; i < scales.length; i++) {
      // the context spans the last scale × blocks rows, this one included
      if (st.heldAt !== undefined && st.n - st.heldAt < scales[i] * blocks) continue
      const v = this.#dists[i]
      if (!Number.isNaN(v)) pushWindow(st.cal[i], v)
      const stride = Math.max(1, Math.floor(scales[i] / storeDivisor))
      if (this.#has[i] === 1 && (st.n + 1) % stride === 0) this.#remember(i)
    }
    if (raw > 0 && raw >= this.#eventScore) {
      st.peak = this.#continues(raw) ? Math.max(st.peak, raw) : raw
      st.quiet = 0
    } else if (st.peak > 0 && ++st.quiet >= this.o.refractory) {
      st.peak = 0
      st.quiet = 0
    }
    st.recent[st.n & (st.recent.length - 1)] = x
    st.n++
    this.#scoredFor = NaN
  }

  /** Stores scale i's current context in its ring, replacing the oldest. */
  #remember(i: number): void {
    const st = this.#s
    const { blocks, memory } = this.o
    st.mem[i].set(this.#ctx.subarray(i * blocks, (i + 1) * blocks), st.memNext[i] * blocks)
    st.memNext[i] = (st.memNext[i] + 1) % memory
    st.memFilled[i] = Math.min(memory, st.memFilled[i] + 1)
  }

  /** Scores, learns and steps the alarm in one call. A non-finite x (a gap) scores 0 and is not learnt. */
  process(x: number): EnsembleStep {
    if (!Number.isFinite(x)) return { score: 0, alarm: null }
    const score = this.score(x)
    this.update(x)
    return { score, alarm: this.#alarm.step(score) }
  }

  get alarmActive(): boolean {
    return this.#alarm.active
  }

  /** Points learned so far. */
  get learned(): number {
    return this.#s.n
  }

  /** Points learned before a score can exceed 0 (see {@link warmUpPoints}). */
  get warmUp(): number {
    return warmUpPoints(this.o)
  }

  snapshot(): DetectorSnapshot {
    return {
      kind: this.name,
      version: 1,
      options: { ...structuredClone(this.o), alarm: { ...this.#alarm.o } },
      state: structuredClone({ ...this.#s, alarm: this.#alarm.s }),
    }
  }

  /** Replaces the state with a snapshot's; the snapshot must come from a novelty detector with the same options. */
  restore(snap: DetectorSnapshot): this {
    if (snap.kind !== this.name || snap.version !== 1)
      throw VGL_ERR_DETECT_SNAPSHOT(
        `cannot restore a ${snap.kind} v${snap.version} snapshot into ${this.name} v1; use restoreDetector(snapshot)`,
      )
    const { alarm, ...state } = structuredClone(snap.state) as NoveltyState & { alarm: Alarm['s'] }
    this.#alarm.s = alarm
    this.#s = state
    this.#scoredFor = NaN
    return this
  }
}

/** Median gap, in points, between chance events of probability p (an invalid p is reported by its own check). */
function medianChanceGap(p: number): number {
  const gap = Math.round(Math.LN2 / p)
  return Number.isFinite(gap) ? Math.min(100_000, Math.max(1, gap)) : 1
}

/**
 * ln of a distance, floored relative to the context's magnitude so that exact repeats (flat lines,
 * counts) compare as equal without −∞, whatever the units.
 */
function logDistance(d: number, ctx: Float64Array, from: number, len: number): number {
  let mag = 0
  for (let b = from; b < from + len; b++) mag = Math.max(mag, Math.abs(ctx[b]))
  return Math.log(d + RELATIVE_FLOOR * mag + 1e-300)
}

/**
 * Points a detector with these options learns before its first scale can rank a distance (before
 * that every p is 1 and every score 0): replays the counters `update` advances (a context exists
 * from s·blocks points on, is remembered every stride points, and its distances are ranked once
 * MIN_MEMORY contexts are remembered and MIN_CALIBRATION distances collected).
 */
export function warmUpPoints(o: Pick<Resolved, 'scales' | 'blocks' | 'storeDivisor' | 'memory'>): number {
  const mem = o.scales.map(() => 0)
  const cal = o.scales.map(() => 0)
  for (let n = 0; ; n++) {
    for (let i = 0; i < o.scales.length; i++) {
      const s = o.scales[i]
      if (n + 1 < s * o.blocks) continue
      if (mem[i] >= MIN_MEMORY && cal[i] >= MIN_CALIBRATION) return n
      if (mem[i] >= MIN_MEMORY) cal[i]++
      if ((n + 1) % Math.max(1, Math.floor(s / o.storeDivisor)) === 0) mem[i] = Math.min(o.memory, mem[i] + 1)
    }
  }
}
