/**
 * @module Where a chart's anomaly labels go. Two anomalies a few pixels apart drew their labels
 * on top of each other; here each label takes the first row where it clears the one before, and
 * when every row is taken it joins the label before it into "N anomalies" (the details on hover).
 */

export interface MarkLabelInput {
  /** where the mark starts, px from the plot's left edge */
  x: number
  text: string
}

export interface PlacedLabel {
  /** left edge of the label, px (kept inside the plot) */
  left: number
  width: number
  /** 0 is the top row */
  row: number
  /** the mark's own label, or "N anomalies" for a group */
  text: string
  /** indices into the input of the marks this label stands for, leftmost first */
  members: number[]
}

export interface MarkLabelOptions {
  /** plot width, px */
  width: number
  /** the label's width in px for a text */
  measure: (text: string) => number
  /** rows of labels before they are grouped; default 2 */
  rows?: number
  /** space kept between two labels in a row, px; default 6 */
  gap?: number
  /** a label starts this far right of its mark (past the ▼), px; default 7 */
  offset?: number
  /** half the ▼'s width, px; default 5 */
  half?: number
}

/** A mark with a visible span: where its ▼ goes and what its label reads. */
export interface MarkAt {
  /** index into the marks given */
  index: number
  /** px from the plot's left edge */
  x: number
  text: string
}

/**
 * The marks whose span shows on the plot, with the ▼'s place. An anomaly that began before the
 * visible range but still runs into it would otherwise be a shaded span with no name: its ▼ sits
 * at the left edge and its label starts with "◀" (it began earlier). A ▼ is kept `half` px inside
 * either edge so it is drawn whole.
 */
export function markPositions(
  marks: ReadonlyArray<{ from: number; to: number; label: string }>,
  toPx: (t: number) => number,
  width: number,
  half = 5,
): MarkAt[] {
  const inside = (x: number) => Math.max(half, Math.min(width - half, x))
  const out: MarkAt[] = []
  marks.forEach((m, index) => {
    const x0 = toPx(m.from)
    if (x0 > width) return
    if (x0 >= 0) out.push({ index, x: inside(x0), text: m.label })
    else if (toPx(m.to) >= 0) out.push({ index, x: inside(0), text: `◀ ${m.label}` })
  })
  return out
}

export function groupText(n: number): string {
  return `${n} anomalies`
}

/** Lays the labels out so that no two overlap; greedy, left to right. */
export function layoutMarkLabels(marks: readonly MarkLabelInput[], opts: MarkLabelOptions): PlacedLabel[] {
  const rows = Math.max(1, opts.rows ?? 2)
  const gap = opts.gap ?? 6
  const offset = opts.offset ?? 7
  const half = opts.half ?? 5
  const order = marks.map((m, i) => ({ m, i })).sort((a, b) => a.m.x - b.m.x || a.i - b.i)
  const placed: PlacedLabel[] = []
  /** the last label in each row */
  const last: (PlacedLabel | undefined)[] = Array.from({ length: rows })
  /** where the label before the last one in each row ends, gap included */
  const floor: number[] = Array.from({ length: rows }, () => 0)
  /** the mark each row's last label hangs from */
  const anchor: number[] = Array.from({ length: rows }, () => 0)
  // a label that would run past the right edge ends under its ▼ instead: moved only as far as
  // the edge, it sat apart from its mark, to the left, and read as another mark's
  const fitLeft = (x: number, width: number) =>
    Math.max(0, x + offset + width <= opts.width ? x + offset : Math.min(x + half, opts.width) - width)
  for (const { m, i } of order) {
    const width = opts.measure(m.text)
    const left = fitLeft(m.x, width)
    const row = last.findIndex((l) => l === undefined || l.left + l.width + gap <= left)
    if (row >= 0) {
      const label: PlacedLabel = { left, width, row, text: m.text, members: [i] }
      placed.push(label)
      const before = last[row]
      if (before !== undefined) floor[row] = before.left + before.width + gap
      last[row] = label
      anchor[row] = m.x
      continue
    }
    // every row is taken here: join the row whose last label reaches least far right. It is the
    // last in its row, so growing it rightwards runs into nothing placed yet.
    let row2 = 0
    last.forEach((l, r) => {
      if (l!.left + l!.width < last[row2]!.left + last[row2]!.width) row2 = r
    })
    const into = last[row2]!
    into.members.push(i)
    into.text = groupText(into.members.length)
    into.width = opts.measure(into.text)
    // it hangs from its first ▼ again, never onto the label before it: near the right edge a
    // wider text moves left, and a narrower one ("2 anomalies" in place of a long name fitted
    // under its ▼) moves back right, or it ends far left of its ▼ and reads as another mark's
    into.left = Math.max(floor[row2], fitLeft(anchor[row2], into.width))
  }
  return placed
}

/**
 * The top of a y range that leaves the labels' rows above the data: `reservePx` of a plot
 * `plotPx` tall stays empty, so a peak under an anomaly's label is not hidden by it. At most half
 * the plot is given up, however short it is.
 */
export function withLabelRoom(lo: number, hi: number, plotPx: number, reservePx: number): number {
  if (reservePx <= 0 || plotPx <= 0 || !(hi > lo)) return hi
  const free = Math.max(plotPx / 2, plotPx - reservePx)
  return lo + ((hi - lo) * plotPx) / free
}
