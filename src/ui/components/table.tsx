/**
 * The dashboard's data tables: one heading row, a body that scrolls sideways on narrow screens
 * (a fade marks the edge that hides columns), and a sentence in place of the table while there is
 * nothing to list.
 */
import type { ComponentChildren, VNode } from 'preact'
import { ScrollX } from './scroll-x.js'
import { Empty } from './ui.js'

export interface Column {
  label: string
  /** figures: aligned right so digits line up */
  num?: boolean
  /** sentences (a reason, evidence): kept wide enough to read on a phone, the table scrolling sideways instead */
  prose?: boolean
  /** read to screen readers only (a column of buttons needs a name, not a visible heading) */
  skip?: boolean
  /** a tooltip saying how to read the column (what a `–` in it means) */
  title?: string
}

/** `false` leaves a column out, so optional columns read inline: `cond && 'Replicas'`. */
export type ColumnSpec = string | Column | false

export const num = (label: string): Column => ({ label, num: true })
export const prose = (label: string): Column => ({ label, prose: true })

export interface TableProps<T> {
  columns: readonly ColumnSpec[]
  rows: readonly T[]
  /** one `<tr>` (with its key) per row */
  row: (item: T, index: number) => VNode
  /** shown instead of the table when there are no rows; without it an empty table is drawn */
  empty?: ComponentChildren
  /** the accessible name (tests and screen readers find tables by it) */
  label?: string
  id?: string
  caption?: ComponentChildren
  /**
   * on a phone, each row's cells wrap onto lines of their own, each under its `data-label`, instead
   * of the table scrolling sideways: for tables of inputs and buttons (a Save button off screen
   * is a form that cannot be sent)
   */
  stacked?: boolean
}

export function Table<T>(props: TableProps<T>) {
  if (props.rows.length === 0 && props.empty !== undefined) return <Empty>{props.empty}</Empty>
  return (
    <ScrollX class={props.stacked === true ? 'table-wrap stacked' : 'table-wrap'}>
      <table aria-label={props.label} id={props.id}>
        {props.caption !== undefined && (
          <caption class="small muted" style={{ textAlign: 'left' }}>
            {props.caption}
          </caption>
        )}
        <thead>
          <tr>
            {props.columns.map((c) => {
              if (c === false) return null
              const col = typeof c === 'string' ? { label: c } : c
              return (
                <th
                  key={col.label}
                  scope="col"
                  class={col.num === true ? 'num' : col.prose === true ? 'prose' : undefined}
                  title={col.title}
                >
                  {col.skip === true ? <span class="skip">{col.label}</span> : col.label}
                </th>
              )
            })}
          </tr>
        </thead>
        <tbody>{props.rows.map(props.row)}</tbody>
      </table>
    </ScrollX>
  )
}
