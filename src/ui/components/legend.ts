/**
 * @module What a chart's legend lists: the series it draws, and in words the ones it cannot draw
 * yet (a forecast still learning), so a legend never names a line that is not on the chart.
 */
import type { ForecastAnswer } from '../lib/types.js'

/** A legend entry: a drawn series with its swatch, or a missing one's words. */
export type LegendEntry<S> = { series: S; drawn: true } | { series: S; drawn: false; text: string }

/**
 * The legend of `series` (with their `ys`): hidden ones left out, a series with no point listed
 * by its `missing` words when it has them, else left out.
 *
 * @example
 * legendEntries([{ label: 'observed' }, { label: 'forecast', missing: 'forecast: not yet' }], [[1, 2], [null, null]])
 * // [{ series: { label: 'observed' }, drawn: true }, { series: { label: 'forecast', … }, drawn: false, text: 'forecast: not yet' }]
 */
export function legendEntries<S extends { hidden?: boolean; missing?: string }>(
  series: readonly S[],
  ys: ReadonlyArray<ReadonlyArray<number | null | undefined>>,
): LegendEntry<S>[] {
  const out: LegendEntry<S>[] = []
  series.forEach((s, i) => {
    if (s.hidden === true) return
    if ((ys[i] ?? []).some((v) => v !== null && v !== undefined)) out.push({ series: s, drawn: true })
    else if (s.missing !== undefined) out.push({ series: s, drawn: false, text: s.missing })
  })
  return out
}

/**
 * The legend's words for a forecast that is not drawn: how much more history it needs when the
 * forecast API said so (`forecast: not yet, needs 3 more minutes of data`), else `forecast: not yet`.
 */
export function forecastNotYet(answer: ForecastAnswer | null): string {
  if (answer === null || answer.status === 'ok') return 'forecast: not yet'
  const ms = Math.max(0, answer.need - answer.have) * answer.stepMs
  if (ms <= 0) return 'forecast: not yet, fitting the first model'
  const more =
    ms >= 60_000
      ? `${Math.ceil(ms / 60_000)} more minute${Math.ceil(ms / 60_000) === 1 ? '' : 's'}`
      : `${Math.ceil(ms / 1000)} more seconds`
  return `forecast: not yet, needs ${more} of data`
}
