import { describe, expect, it } from 'vitest'
import { PendingList, type PendingLinks } from './pending-list.js'

class Item implements PendingLinks<Item> {
  prevPending: Item | null = null
  nextPending: Item | null = null
  listed = false
  constructor(readonly id: number) {}
}

const ids = (l: PendingList<Item>): number[] => {
  const out: number[] = []
  l.forEach((x) => out.push(x.id))
  return out
}

describe('PendingList', () => {
  it('adds at the head, deletes from anywhere, and ignores repeated adds and deletes', () => {
    const l = new PendingList<Item>()
    const [a, b, c, d] = [1, 2, 3, 4].map((i) => new Item(i))
    for (const x of [a, b, c, d]) l.add(x)
    l.add(b)
    expect(ids(l)).toEqual([4, 3, 2, 1])
    expect(l.size).toBe(4)
    l.delete(c) // middle
    l.delete(d) // head
    l.delete(a) // tail
    l.delete(a)
    expect(ids(l)).toEqual([2])
    expect(l.size).toBe(1)
    l.delete(b)
    expect(l.head).toBeNull()
    expect(l.size).toBe(0)
    expect([a, b, c, d].every((x) => !x.listed && x.prevPending === null && x.nextPending === null)).toBe(
      true,
    )
  })

  it('lets the walk delete the visited item and add new ones without visiting them', () => {
    const l = new PendingList<Item>()
    const items = [1, 2, 3, 4, 5].map((i) => new Item(i))
    for (const x of items) l.add(x)
    const seen: number[] = []
    l.forEach((x) => {
      seen.push(x.id)
      if (x.id % 2 === 1) l.delete(x)
      if (x.id === 3) l.add(new Item(6))
    })
    expect(seen).toEqual([5, 4, 3, 2, 1])
    expect(ids(l)).toEqual([6, 4, 2])
    expect(l.size).toBe(3)
  })
})
