/**
 * A series' newest window, read as "now". Gateways ship a window only when requests arrived in
 * it, so a series that stopped receiving requests keeps its last window in the live feed; shown as
 * is, a route nobody calls any more would read "8 req/s" forever. Past a few windows without a new
 * one, it reads as idle: 0 req/s, no latency or ratios, and since when.
 */

import type { LiveSeries } from '../../api/live-sections.js'

/** Windows that may pass without a new one (a late gateway, a slow tick) before a series is idle. */
export const IDLE_WINDOWS = 3
/** ... plus this, so very short windows do not flicker to idle. */
export const IDLE_SLACK_MS = 5_000

/** The figures of one window (its start `t` and length `d`), as the live feed sends them. */
export type WindowFigures = Pick<
  LiveSeries,
  't' | 'd' | 'rate' | 'err' | 'uerr' | 'lim' | 'p50' | 'p95' | 'p99'
>

/** A window's figures now: the ratios are null while idle; `idleSince` is when its last window ended. */
export type SeriesNow = Pick<LiveSeries, 'rate' | 'p50' | 'p95' | 'p99'> & {
  err: number | null
  /** the upstream's own error ratio (the gateway's answers left out) */
  uerr: number | null
  lim: number | null
  idleSince: number | null
}

/** `s` as it stands at `serverNow` (the server's clock, see `LiveStore.serverNow`). */
export function seriesNow(s: WindowFigures, serverNow: number): SeriesNow {
  const end = s.t + s.d
  if (serverNow - end <= IDLE_WINDOWS * s.d + IDLE_SLACK_MS)
    return {
      rate: s.rate,
      err: s.err,
      uerr: s.uerr,
      lim: s.lim,
      p50: s.p50,
      p95: s.p95,
      p99: s.p99,
      idleSince: null,
    }
  return { rate: 0, err: null, uerr: null, lim: null, p50: null, p95: null, p99: null, idleSince: end }
}
