/** The lines that say detection is still learning, apart from the pages so they can be checked without a browser. */
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

/** The badge and its title for a row of something still learning. */
export interface LearningBadge {
  /** `learning (about 1 min)` */
  text: string
  /** the sentence behind it */
  title: string
  /** `warn` when the anomalies cannot be read here at all; `info` (the default) while learning */
  tone?: 'info' | 'warn'
}

/**
 * What an anomalies cell or card shows with none open while this process cannot read anomalies
 * (a standby control plane: only the leader detects), from the live feed's error for the
 * section; null when it reads them. "none" there would claim a calm the page cannot know.
 */
export function anomaliesUnavailable(error: string | undefined): LearningBadge | null {
  if (error === undefined) return null
  return { text: 'unavailable', title: `Anomalies cannot be read here: ${error}`, tone: 'warn' }
}

/**
 * What a service row shows while none of its anomalies is open and some of its live series are
 * still learning (a service, or a route of it, that appeared after the others were judged); null
 * once they are all judged. The time is that of its own least advanced series, not the system's.
 */
export function serviceLearning(
  s: LearningSummary | undefined,
  service: string,
  env: string,
): LearningBadge | null {
  if (s === undefined) return null
  // a control plane from before the per-service list: every service learns while all series do
  if (s.services === undefined) {
    const line = learningLine(s)
    return allLearning(s) && s.etaMs !== null && line !== null
      ? { text: `learning (${fmtEta(s.etaMs)})`, title: line }
      : null
  }
  const g = s.services.find((x) => x.service === service && x.env === env)
  if (g === undefined) return null
  const which =
    g.learningSeries === g.series
      ? `its ${g.series === 1 ? 'series' : `${g.series} series`}`
      : `${g.learningSeries} new of its ${g.series} series`
  return {
    text: `learning (${fmtEta(g.etaMs)})`,
    title: `${service} (${env}): learning ${which}; detection on ${g.learningSeries === 1 ? 'it' : 'them'} starts in ${fmtEta(g.etaMs)} (${g.windowsLearned} of ${s.windowsNeeded} windows)`,
  }
}

/**
 * A series still learning, for its row and its page; null once it is judged (or not known to be
 * learning). Its service's time is that of its least advanced series: this one judges then at the
 * latest.
 */
export function seriesLearning(s: LearningSummary | undefined, key: string): LearningBadge | null {
  const g = s?.services?.find((x) => x.keys.includes(key))
  if (g === undefined) return null
  return {
    text: `learning (${fmtEta(g.etaMs)})`,
    title: `Learning this series: detection on it starts in ${fmtEta(g.etaMs)} at the latest (nothing opens on it before)`,
  }
}
