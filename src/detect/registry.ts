/** @module Detectors by name, for the CLI, the evaluator and snapshot restore. */
import { VGL_ERR_DETECT_UNKNOWN } from '../errors.js'
import type { Detector, DetectorSnapshot } from './detector.js'
import { Ensemble, MEMBER_NAMES, createMember, type EnsembleStep, type MemberName } from './ensemble.js'
import { Novelty, type NoveltyOptions } from './novelty.js'

/** The detector `vigil detect` runs when none is named. */
export const DEFAULT_DETECTOR = 'novelty'

/** Every name `createDetector` accepts: the novelty detector (default), the ensemble and each ensemble member. */
export const DETECTOR_NAMES: readonly string[] = ['novelty', 'ensemble', ...MEMBER_NAMES]

/** A detector as `vigil detect` runs it: scores, learns and steps its alarm per point; gaps score 0. */
export interface StreamingDetector extends Detector<number> {
  process(x: number): EnsembleStep
  readonly alarmActive: boolean
}

function check(name: string): void {
  if (!DETECTOR_NAMES.includes(name))
    throw VGL_ERR_DETECT_UNKNOWN(`unknown detector "${name}"; choose one of: ${DETECTOR_NAMES.join(', ')}`)
}

/**
 * A raw detector by name: a member's own score (1 − its tail probability), or the ensemble.
 *
 * @example
 * const d = createDetector('robust-z')
 * for (const x of series) { const s = d.score(x); d.update(x) }
 */
export function createDetector(name: string, options: { seed?: number } = {}): Detector<number> {
  check(name)
  if (name === 'novelty') return new Novelty()
  if (name === 'ensemble') return new Ensemble({ seed: options.seed })
  return createMember(name as MemberName, options.seed ?? 42)
}

/**
 * A detector by name as `vigil detect --detector NAME` runs it: the novelty detector, the ensemble,
 * or one ensemble member passed through the ensemble's calibration and score scale.
 */
export function createCalibrated(
  name: string,
  options: { seed?: number; stepMs?: number } = {},
): StreamingDetector {
  check(name)
  if (name === 'novelty') return new Novelty()
  return new Ensemble({
    seed: options.seed,
    stepMs: options.stepMs,
    members: name === 'ensemble' ? undefined : [name as MemberName],
  })
}

/** Rebuilds a detector from its snapshot. */
export function restoreDetector(snap: DetectorSnapshot): Detector<number> {
  check(snap.kind)
  if (snap.kind === 'novelty') return new Novelty(snap.options as NoveltyOptions).restore(snap)
  if (snap.kind === 'ensemble') {
    const o = snap.options as { members: MemberName[]; seed: number; metric: string; historySize: number }
    return new Ensemble(o).restore(snap)
  }
  const o = snap.options as { seed?: number; historySize?: number }
  const d = createMember(
    snap.kind as MemberName,
    o.seed ?? 42,
    o.historySize ?? 4096,
  ) as unknown as Detector<number> & {
    restore(s: DetectorSnapshot): Detector<number>
  }
  return d.restore(snap)
}
