import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fnv1a, splitHalves } from './detect-dev.js'
import { labelFile, scaledSigmoid, scoreCorpus, type ProfileName } from './nab-score.js'

/** A series of zeros with the given (row, score) detections. */
function series(n: number, hits: [number, number][]): number[] {
  const s = new Array<number>(n).fill(0)
  for (const [i, v] of hits) s[i] = v
  return s
}

type Case = {
  files: [number, [number, number][], number[]][]
  expected: Record<ProfileName, [number, number, number, number]>
}

// Expected [score, threshold, windows detected, false rows] from the development set's
// tools/nab_score.py (optimise(), pure and numpy sweeps agree) on the same hand-made files.
const CASES: Record<string, Case> = {
  'early detection, an FP before the window and reduced-cost FPs after it': {
    files: [
      [
        100,
        [[40, 49]],
        series(100, [
          [41, 0.9],
          [30, 0.5],
          [52, 0.7],
          [80, 0.6],
        ]),
      ],
    ],
    expected: {
      standard: [99.56476490211483, 0.9, 1, 0],
      reward_low_FP_rate: [99.56476490211483, 0.9, 1, 0],
      reward_low_FN_rate: [99.70984326807655, 0.9, 1, 0],
    },
  },
  'three files: probation, ties, an anomaly-free file': {
    files: [
      [
        200,
        [
          [50, 59],
          [120, 139],
        ],
        series(200, [
          [5, 1],
          [55, 0.8],
          [56, 0.8],
          [60, 0.8],
          [61, 0.8],
          [150, 0.3],
          [125, 0.3],
        ]),
      ],
      [
        120,
        [],
        series(120, [
          [30, 0.8],
          [31, 0.2],
          [100, 0.9],
        ]),
      ],
      [
        60,
        [[20, 29]],
        series(60, [
          [29, 0.4],
          [10, 0.95],
        ]),
      ],
    ],
    expected: {
      standard: [76.02078692580919, 0.3, 3, 6],
      reward_low_FP_rate: [67.45785377686383, 0.3, 3, 6],
      reward_low_FN_rate: [84.01385795053946, 0.3, 3, 6],
    },
  },
  'a constant score is the null detector': {
    files: [[80, [[30, 39]], new Array<number>(80).fill(0.5)]],
    expected: {
      standard: [0, 1.1, 0, 0],
      reward_low_FP_rate: [0, 1.1, 0, 0],
      reward_low_FN_rate: [0, 1.1, 0, 0],
    },
  },
  'a one-row window: detections after it cost in full': {
    files: [
      [
        50,
        [[20, 20]],
        series(50, [
          [20, 0.7],
          [21, 0.7],
          [22, 0.7],
        ]),
      ],
    ],
    expected: {
      standard: [89, 0.7, 1, 2],
      reward_low_FP_rate: [78, 0.7, 1, 2],
      reward_low_FN_rate: [92.66666666666667, 0.7, 1, 2],
    },
  },
}

describe('window scoring (NAB rules)', () => {
  for (const [name, c] of Object.entries(CASES))
    it(`matches the reference scorer: ${name}`, () => {
      const files = c.files.map(([n, w], k) => labelFile(`f${k}`, n, w))
      const res = scoreCorpus(
        files,
        c.files.map((f) => f[2]),
      )
      for (const [p, [score, thr, found, fp]] of Object.entries(c.expected)) {
        const r = res[p as ProfileName]
        expect(r.score, p).toBeCloseTo(score, 9)
        expect(r.threshold, p).toBe(thr)
        expect(r.windowsDetected, p).toBe(found)
        expect(r.falseRows, p).toBe(fp)
      }
    })

  it('earns most at the left edge of a window and almost nothing at its right edge', () => {
    const f = labelFile('f', 100, [[40, 59]])
    expect(f.unit[40]).toBeCloseTo(1, 12)
    expect(f.unit[59]).toBeGreaterThan(0)
    expect(f.unit[59]).toBeLessThan(0.15)
    expect(f.unit[39]).toBe(-1)
    // just after the window a false detection costs less than one far away
    expect(f.unit[60]).toBeGreaterThan(-0.2)
    expect(f.unit[70]).toBeLessThan(f.unit[60])
    expect(f.unit[99]).toBe(scaledSigmoid(40 / 19))
    expect(f.firstScored).toBe(15)
    expect(labelFile('long', 10_000, []).firstScored).toBe(750)
  })

  it('refuses overlapping windows and scores that do not fit the file', () => {
    expect(() =>
      labelFile('f', 100, [
        [10, 30],
        [30, 40],
      ]),
    ).toThrow(/overlapping/)
    expect(() => labelFile('f', 100, [[90, 100]])).toThrow(/not within/)
    expect(() => scoreCorpus([labelFile('f', 10, [])], [[0, 1]])).toThrow(/2 scores for 10 rows/)
    expect(() => scoreCorpus([labelFile('f', 3, [])], [[0, 0, NaN]])).toThrow(/non-finite/)
  })
})

describe('development set halves', () => {
  it('splits each folder by the FNV-1a hash of the file name, the first half rounded up', () => {
    expect(fnv1a('')).toBe(0x811c9dc5)
    expect(fnv1a('a')).toBe(0xe40c292c)
    const rels = ['x/a.csv', 'x/b.csv', 'x/c.csv', 'y/a.csv', 'y/d.csv']
    const h = splitHalves(rels)
    expect([...h.values()].filter((v) => v === 'A')).toHaveLength(3)
    expect(['x/a.csv', 'x/b.csv', 'x/c.csv'].filter((r) => h.get(r) === 'A')).toHaveLength(2)
    expect(h.get('y/a.csv')).not.toBe(h.get('y/d.csv'))
    expect(splitHalves([...rels].reverse())).toEqual(h)
  })

  const dir = '/work/shared/anomaly-dev'
  it.skipIf(!existsSync(dir))(`scores the development set in ${dir} (skipped when absent)`, async () => {
    const { loadDevSet, evaluateDevSet } = await import('./detect-dev.js')
    const dev = loadDevSet(dir)
    const r = evaluateDevSet(dev, 'robust-z')
    const [a, b, whole] = r.sets
    expect(a.files + b.files).toBe(whole.files)
    expect(a.result.standard.windows + b.result.standard.windows).toBe(whole.result.standard.windows)
    for (const s of r.sets) for (const p of Object.values(s.result)) expect(p.score).toBeLessThanOrEqual(100)
  })
})
