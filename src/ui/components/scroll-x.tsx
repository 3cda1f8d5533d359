/**
 * A box that scrolls sideways when its content is wider (a table, the service map), with a fade
 * at each edge that hides more: a scroll bar alone is thin, hidden until hovered on touch screens
 * and macOS, and a cut-off table read as whole.
 */
import type { ComponentChildren } from 'preact'
import { useEffect, useRef } from 'preact/hooks'

/** Which edges hide content: `left`, `right`, both (`left right`) or none (`''`). */
export function hiddenEdges(scrollLeft: number, clientWidth: number, scrollWidth: number): string {
  // a sub-pixel remainder (zoom, fractional widths) is no content
  const left = scrollLeft > 1
  const right = scrollLeft + clientWidth < scrollWidth - 1
  return [left && 'left', right && 'right'].filter(Boolean).join(' ')
}

export function ScrollX(props: { class: string; children: ComponentChildren }) {
  const outer = useRef<HTMLDivElement>(null)
  const inner = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const box = inner.current
    const frame = outer.current
    if (box === null || frame === null) return
    // set on the element, not in state: the pages re-render on every live event
    const update = () => {
      const edges = hiddenEdges(box.scrollLeft, box.clientWidth, box.scrollWidth)
      if (frame.dataset.more !== edges) frame.dataset.more = edges
    }
    update()
    box.addEventListener('scroll', update, { passive: true })
    // the box resizes with the window; the content with live rows and longer names
    const ro = new ResizeObserver(update)
    ro.observe(box)
    for (const child of box.children) ro.observe(child)
    return () => {
      box.removeEventListener('scroll', update)
      ro.disconnect()
    }
  }, [])
  return (
    <div class="scroll-x" ref={outer}>
      <div class={props.class} ref={inner}>
        {props.children}
      </div>
    </div>
  )
}
