/**
 * How much above the data a forecast's band may reach on a chart: a model's interval right after
 * a ramp can be many times the traffic, and an axis scaled to it flattens everything observed.
 */
export const BAND_TOP_FACTOR = 2

/**
 * A rate forecast's points as drawn: the forecast and its lower band never below 0 (a rate is
 * not negative, whatever a model's interval says), the upper band cut at {@link BAND_TOP_FACTOR}
 * times the highest of the observed rates and the forecast, so the axis stays scaled to the data.
 * `clipped` says whether any upper value was cut, for the chart to say so.
 */
export function drawnBand<P extends { forecast: number; lower: number; upper: number }>(
  points: readonly P[],
  observed: readonly number[],
): { points: P[]; clipped: boolean } {
  const top = Math.max(0, ...observed, ...points.map((p) => p.forecast))
  const cap = top > 0 ? top * BAND_TOP_FACTOR : Infinity
  let clipped = false
  const out = points.map((p) => {
    const upper = Math.min(Math.max(0, p.upper), cap)
    if (upper < p.upper) clipped = true
    return { ...p, forecast: Math.max(0, p.forecast), lower: Math.max(0, p.lower), upper }
  })
  return { points: out, clipped }
}

/** The legend's name of a forecast band: its level, and whether its top was cut to fit the chart. */
export function bandLabel(level: number | undefined, clipped: boolean): string {
  return `${level ?? 80}% interval${clipped ? ' (cut at the top)' : ''}`
}

/**
 * A detector's expected band on a chart of observed values: its upper edge cut at the higher of
 * {@link BAND_TOP_FACTOR} times the highest observed value and the band's own top once settled
 * (the highest of its later half). A detector starts with a wide band that narrows as it learns,
 * and an axis scaled to the early one (an error ratio's band at 100%) flattens every spike
 * observed since. `clipped` says whether any value was cut, for the chart to say so.
 */
export function drawnExpectedBand(
  highs: readonly (number | null)[],
  observed: readonly (number | null)[],
): { highs: (number | null)[]; clipped: boolean } {
  const known = highs.filter((v): v is number => v !== null)
  const settled = Math.max(0, ...known.slice(Math.floor(known.length / 2)))
  const seen = Math.max(0, ...observed.filter((v): v is number => v !== null))
  const top = Math.max(seen * BAND_TOP_FACTOR, settled)
  const cap = top > 0 ? top : Infinity
  let clipped = false
  const out = highs.map((v) => {
    if (v === null || v <= cap) return v
    clipped = true
    return cap
  })
  return { highs: out, clipped }
}
