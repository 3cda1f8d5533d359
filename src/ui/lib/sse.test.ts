import { describe, expect, it } from 'vitest'
import { SseParser } from './sse.js'

describe('SseParser', () => {
  it('splits events across chunk boundaries, keeps ids, ignores comments, reads retry', () => {
    const got: Array<[string, string, string | null]> = []
    const retries: number[] = []
    const p = new SseParser(
      (e, d, id) => got.push([e, d, id]),
      (ms) => retries.push(ms),
    )
    p.push('retry: 2000\n\n: ping 1\n\nid: ab-1\nevent: snap')
    p.push('shot\ndata: {"a":1}\n\r')
    expect(got).toEqual([])
    p.push('\ndata: line1\ndata: line2\r\n\r\nid: ab-2\nevent: delta\ndata: x\n\n')
    expect(retries).toEqual([2000])
    expect(got).toEqual([
      ['snapshot', '{"a":1}', 'ab-1'],
      ['message', 'line1\nline2', 'ab-1'],
      ['delta', 'x', 'ab-2'],
    ])
  })

  it('drops an event without data and ignores unknown fields', () => {
    const got: string[] = []
    const p = new SseParser((e) => got.push(e))
    p.push('event: nothing\n\nfoo: bar\nevent: x\ndata\n\n')
    expect(got).toEqual(['x'])
  })
})
