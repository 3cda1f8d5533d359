import { describe, expect, it } from 'vitest'
import { hiddenEdges } from './scroll-x.js'

describe('hiddenEdges', () => {
  it('names the edges that hide content', () => {
    expect(hiddenEdges(0, 700, 900)).toBe('right')
    expect(hiddenEdges(100, 700, 900)).toBe('left right')
    expect(hiddenEdges(200, 700, 900)).toBe('left')
  })

  it('names none when everything fits, or only a sub-pixel remainder is left', () => {
    expect(hiddenEdges(0, 700, 700)).toBe('')
    expect(hiddenEdges(0, 700, 700.6)).toBe('')
    expect(hiddenEdges(0.4, 700, 700.6)).toBe('')
    // an empty box (not laid out yet) hides nothing
    expect(hiddenEdges(0, 0, 0)).toBe('')
  })
})
