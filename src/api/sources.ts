/** @module What the admin API reads from and asks of the running process; implemented by the runtime. */
import type { RouteView, ServiceView } from '../gateway/views.js'
import type { StoreCondition } from '../control/store-watch.js'

export type ReloadResult =
  | {
      ok: true
      routes: number
      /** every field the new file changed, e.g. `routes[1].service` (config paths, never values); absent: not known */
      changed?: string[]
      /** the changed fields that apply only after a restart, e.g. `gateway.port`; the rest apply now */
      restartRequired?: string[]
    }
  | { ok: false; problems: string[] }

export interface AdminSources {
  /** true once the gateway listens and, in embedded mode, the control plane answers */
  ready(): boolean
  /** whether the control plane's store takes writes (absent or undefined: no store written here) */
  store?(): StoreCondition | undefined
  /** absent in a process without a gateway (`vigil control`): the routes answer 404 saying where to ask */
  routes?(): readonly RouteView[]
  services?(): readonly ServiceView[]
  /**
   * re-reads the config file and swaps the route table atomically; the old table keeps serving on
   * failure. Absent in a process that reads its config once (`vigil control`): the route answers
   * 501 saying to restart it
   */
  reload?(): Promise<ReloadResult>
  /** the process's name in messages (`vigil control`); default `this process` */
  name?: string
}
