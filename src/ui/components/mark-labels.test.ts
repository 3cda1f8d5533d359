import { describe, expect, it } from 'vitest'
import { layoutMarkLabels, markPositions, withLabelRoom, type PlacedLabel } from './mark-labels.js'

/** 6 px a character, as 11 px system-ui roughly is */
const measure = (t: string) => 6 * t.length

function overlaps(a: PlacedLabel, b: PlacedLabel): boolean {
  return a.row === b.row && a.left < b.left + b.width && b.left < a.left + a.width
}

function noneOverlap(labels: readonly PlacedLabel[]): void {
  for (let i = 0; i < labels.length; i++)
    for (let j = i + 1; j < labels.length; j++)
      expect(overlaps(labels[i], labels[j]), `${labels[i].text} / ${labels[j].text}`).toBe(false)
}

describe('layoutMarkLabels', () => {
  it('keeps labels far apart on the top row, each beside its mark', () => {
    const got = layoutMarkLabels(
      [
        { x: 10, text: 'errors' },
        { x: 300, text: 'p95' },
      ],
      { width: 600, measure },
    )
    expect(got).toEqual([
      { left: 17, width: 36, row: 0, text: 'errors', members: [0] },
      { left: 307, width: 18, row: 0, text: 'p95', members: [1] },
    ])
  })

  it('puts the label of an anomaly close after another on the next row', () => {
    const got = layoutMarkLabels(
      [
        { x: 100, text: 'errors' },
        { x: 104, text: 'rate' },
      ],
      { width: 600, measure },
    )
    expect(got.map((l) => [l.text, l.row])).toEqual([
      ['errors', 0],
      ['rate', 1],
    ])
    noneOverlap(got)
  })

  it('groups anomalies that no row has room for into "N anomalies", naming every member', () => {
    const marks = [
      { x: 100, text: 'errors' },
      { x: 102, text: 'p95' },
      { x: 104, text: 'p99' },
      { x: 106, text: 'rate' },
      { x: 400, text: 'errors' },
    ]
    const got = layoutMarkLabels(marks, { width: 600, measure })
    noneOverlap(got)
    // every mark is in exactly one label
    expect(got.flatMap((l) => l.members).sort()).toEqual([0, 1, 2, 3, 4])
    const group = got.find((l) => l.members.length > 1)!
    expect(group.text).toBe(`${group.members.length} anomalies`)
    expect(group.width).toBe(measure(group.text))
    expect(got.find((l) => l.members.includes(4))).toMatchObject({ text: 'errors', row: 0, members: [4] })
    expect(Math.max(...got.map((l) => l.row))).toBe(1)
  })

  it('never overlaps, whatever the spacing, and keeps labels inside the plot', () => {
    const texts = ['errors', 'p95', 'p99', 'rate', 'errorRatio', 'joint']
    for (let seed = 1; seed <= 50; seed++) {
      let s = seed
      const rnd = () => ((s = (s * 16807) % 2147483647) - 1) / 2147483646
      const marks = Array.from({ length: 3 + Math.floor(rnd() * 12) }, () => ({
        x: rnd() * 500,
        text: texts[Math.floor(rnd() * texts.length)],
      }))
      const got = layoutMarkLabels(marks, { width: 500, measure, rows: 2 })
      noneOverlap(got)
      expect(got.flatMap((l) => l.members).sort((a, b) => a - b)).toEqual(marks.map((_, i) => i))
      for (const l of got) {
        expect(l.left).toBeGreaterThanOrEqual(0)
        expect(l.left + l.width).toBeLessThanOrEqual(500)
        expect(l.row).toBeLessThan(2)
      }
    }
  })

  it('moves a label at the right edge left, inside the plot', () => {
    const [l] = layoutMarkLabels([{ x: 595, text: 'errors' }], { width: 600, measure })
    expect(l.left + l.width).toBe(600)
  })

  it('ends a label that does not fit right of its mark under the ▼, not away to its left', () => {
    // "p95 latency, all services" is 150 px: right of a mark at 520 it would run past 600
    const [l] = layoutMarkLabels([{ x: 520, text: 'p95 latency, all services' }], { width: 600, measure })
    expect(l.left + l.width).toBe(525)
    expect(l.left).toBe(375)
  })

  it('keeps a group near the right edge ending under its first mark', () => {
    const got = layoutMarkLabels(
      [560, 561, 562, 563].map((x) => ({ x, text: 'errors' })),
      { width: 600, measure },
    )
    noneOverlap(got)
    for (const l of got) expect(l.left + l.width).toBeLessThanOrEqual(600)
    const group = got.find((l) => l.members.length > 1)!
    expect(group).toMatchObject({ text: '3 anomalies', members: [0, 2, 3] })
    expect(group.left + group.width).toBe(565)
  })

  it('moves a long label that becomes a shorter "N anomalies" back under its mark', () => {
    // three at one moment near the right edge: the first name is wider than "3 anomalies"
    const got = layoutMarkLabels(
      ['p50 latency, all services', 'p95 latency', 'p99 latency'].map((text) => ({ x: 500, text })),
      { width: 600, measure },
    )
    noneOverlap(got)
    const group = got.find((l) => l.members.length > 1)!
    expect(group).toMatchObject({ text: '2 anomalies', members: [0, 2] })
    // room right of the ▼ now: it starts past it, as a single label does
    expect(group.left).toBe(507)
  })
})

describe('markPositions', () => {
  // 1 px a second, the plot showing t = 100 … 700
  const at = (marks: Array<{ from: number; to: number; label: string }>) =>
    markPositions(marks, (t) => t - 100, 600)

  it('names an anomaly that began before the visible range at the left edge', () => {
    const got = at([
      { from: 40, to: 300, label: 'p95 latency' },
      { from: 10, to: 90, label: 'rate' },
      { from: 400, to: 450, label: 'errors' },
    ])
    expect(got).toEqual([
      { index: 0, x: 5, text: '◀ p95 latency' },
      { index: 2, x: 300, text: 'errors' },
    ])
  })

  it('leaves out marks after the range and keeps a ▼ whole at either edge', () => {
    const got = at([
      { from: 100, to: 120, label: 'a' },
      { from: 699, to: 700, label: 'b' },
      { from: 800, to: 900, label: 'c' },
    ])
    expect(got.map((m) => [m.index, m.x])).toEqual([
      [0, 5],
      [1, 595],
    ])
  })
})

describe('withLabelRoom', () => {
  it('raises the top of the range so the data stays below the reserved rows', () => {
    const hi = withLabelRoom(0, 100, 150, 30)
    // the value 100 sits 30 px below the top of a 150 px plot
    expect(150 - (100 / hi) * 150).toBeCloseTo(30)
    expect(withLabelRoom(-10, 10, 200, 50)).toBeCloseTo(-10 + (20 * 200) / 150)
  })

  it('gives up at most half the plot, and changes nothing without labels or data', () => {
    expect(withLabelRoom(0, 100, 40, 38)).toBe(200)
    expect(withLabelRoom(0, 100, 150, 0)).toBe(100)
    expect(withLabelRoom(5, 5, 150, 30)).toBe(5)
  })
})
