import { describe, expect, it } from 'vitest'
import { parentsNeverSentNotes } from './parents-never-sent.js'

describe('the note on callers that send no spans', () => {
  it('names each learned hop in plain words, with how long and how many traces', () => {
    const now = 1_700_000_600_000
    expect(
      parentsNeverSentNotes(
        [
          {
            service: 'pricing',
            env: 'aws',
            name: 'GET /price',
            sinceMs: now - 120_000,
            traces: 42,
            rootsTrace: false,
          },
          { service: 'shop', env: '', name: 'GET /x', sinceMs: now - 120_000, traces: 1, rootsTrace: true },
        ],
        now,
      ),
    ).toEqual([
      'pricing (aws) "GET /price" is called by something that sends no spans (an uninstrumented caller or a sampler in front of it), learned 2m ago: 42 traces analysed without waiting for it',
      'shop "GET /x" is called by something that sends no spans (an uninstrumented caller or a sampler in front of it), learned 2m ago: 1 trace analysed without waiting for it; its span stands for the trace’s root',
    ])
  })

  it('says nothing when no hop was learned, or the pipeline is not known', () => {
    expect(parentsNeverSentNotes([], 0)).toEqual([])
    expect(parentsNeverSentNotes(null, 0)).toEqual([])
    expect(parentsNeverSentNotes(undefined, 0)).toEqual([])
  })
})
