import { describe, expect, it } from 'vitest'
import { fit, intersects, placeLabels, type Curve } from './service-map.js'

describe('fit', () => {
  it('keeps a name that fits and cuts a longer one to the limit with an ellipsis', () => {
    expect(fit('payments', 22)).toBe('payments')
    expect(fit('x'.repeat(22), 22)).toBe('x'.repeat(22))
    const cut = fit('customer-identity-and-access-management-service-eu-west', 22)
    expect(cut).toBe('customer-identity-and…')
    expect([...cut]).toHaveLength(22)
  })

  it('counts characters, not UTF-16 units, and never returns only the ellipsis', () => {
    expect(fit('ünïcödé-sërvïcé-ñämé', 8)).toBe('ünïcödé…')
    expect(fit('😀😀😀😀', 3)).toBe('😀😀…')
    expect(fit('abcdef', 1)).toBe('a…')
    expect(fit('', 5)).toBe('')
  })
})

describe('placeLabels', () => {
  const node = (x: number, y: number) => ({ x, y, w: 190, h: 54 })
  // three callers in one layer, one callee: the curves all end at the callee's left middle
  const nodes = [node(10, 10), node(10, 90), node(10, 170), node(320, 90)]
  const into = (from: { x: number; y: number }): Curve => {
    const x1 = from.x + 190
    const y1 = from.y + 27
    return [
      [x1, y1],
      [(x1 + 320) / 2, y1],
      [(x1 + 320) / 2, 117],
      [318, 117],
    ]
  }

  it('gives edges that meet at one node labels that overlap neither each other nor a node', () => {
    const labels = [...nodes.slice(0, 3), nodes[0]].map((n, i) => ({
      curve: into(n),
      text: i === 3 ? '12.5/s · ✕ 20.0%' : '0.783/s',
    }))
    const boxes = placeLabels(labels, nodes)
    expect(boxes).toHaveLength(4)
    for (const [i, a] of boxes.entries()) {
      for (const n of nodes) expect(intersects(a, n)).toBe(false)
      for (const b of boxes.slice(i + 1)) expect(intersects(a, b)).toBe(false)
    }
  })

  it('fans edges leaving one node apart along their curves', () => {
    const callees = [node(320, 10), node(320, 90), node(320, 170), node(320, 250)]
    const from = node(10, 10)
    const labels = callees.map((c) => ({
      curve: [
        [200, 37],
        [260, 37],
        [260, c.y + 27],
        [318, c.y + 27],
      ] as Curve,
      text: '0.983/s',
    }))
    const boxes = placeLabels(labels, [from, ...callees])
    for (const [i, a] of boxes.entries())
      for (const b of boxes.slice(i + 1)) expect(intersects(a, b)).toBe(false)
  })
})
