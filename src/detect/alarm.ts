/** @module Alert state with hysteresis: one incident raises one alarm. */

export interface AlarmOptions {
  /** score at or above which an alarm is raised; default 0.5 (calibrated p ≈ 1e-5) */
  readonly raiseAt?: number
  /** score below which a raised alarm starts to clear; default 0.3 (p ≈ 1e-3) */
  readonly clearAt?: number
  /** consecutive points below clearAt before the alarm clears; default 10 */
  readonly clearAfter?: number
}

export type AlarmTransition = 'raised' | 'cleared' | null

export interface AlarmStateData {
  active: boolean
  quiet: number
  raisedCount: number
}

/**
 * A two-threshold (Schmitt trigger) alarm: raise at `raiseAt`, clear only after `clearAfter`
 * consecutive points below `clearAt`. A score that hovers around one threshold therefore cannot
 * flap, and a long incident (an outage, a shift still being absorbed) stays one alarm.
 */
export class Alarm {
  readonly o: Required<AlarmOptions>
  s: AlarmStateData = { active: false, quiet: 0, raisedCount: 0 }

  constructor(options: AlarmOptions = {}) {
    this.o = {
      raiseAt: options.raiseAt ?? 0.5,
      clearAt: options.clearAt ?? 0.3,
      clearAfter: options.clearAfter ?? 10,
    }
  }

  get active(): boolean {
    return this.s.active
  }

  /** Feeds one score; returns the transition it caused, if any. */
  step(score: number): AlarmTransition {
    const s = this.s
    if (!s.active) {
      if (score >= this.o.raiseAt) {
        s.active = true
        s.quiet = 0
        s.raisedCount++
        return 'raised'
      }
      return null
    }
    if (score < this.o.clearAt) {
      if (++s.quiet >= this.o.clearAfter) {
        s.active = false
        s.quiet = 0
        return 'cleared'
      }
    } else s.quiet = 0
    return null
  }
}
