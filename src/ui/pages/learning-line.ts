/** The line that says detection is still learning, apart from the pages so it can be checked without a browser. */
import type { LearningSummary } from '../lib/types.js'

/** "about 3 min" / "under a minute": the window length makes anything finer false precision. */
function fmtEta(ms: number): string {
  if (ms < 60_000) return 'under a minute'
  const min = Math.round(ms / 60_000)
  return min < 90 ? `about ${min} min` : `about ${Math.round(min / 60)} h`
}

/** True while every live series is still learning, so no service's "none" can be trusted yet. */
export function allLearning(s: LearningSummary | undefined): boolean {
  return s !== undefined && s.learningSeries > 0 && s.learningSeries === s.series
}

/**
 * What to show instead of "none open" while live series are still learning (nothing opens on
 * them yet), or null once every live series is judged (or before the summary arrives).
 */
export function learningLine(s: LearningSummary | undefined): string | null {
  if (s === undefined || s.learningSeries === 0 || s.windowsLearned === null || s.etaMs === null) return null
  const progress = `${s.windowsLearned} of ${s.windowsNeeded} windows`
  if (s.learningSeries < s.series)
    return `Learning ${s.learningSeries} new of ${s.series} series: detection on them starts in ${fmtEta(s.etaMs)} (${progress})`
  return `Learning the traffic: detection starts in ${fmtEta(s.etaMs)} (${progress})`
}
