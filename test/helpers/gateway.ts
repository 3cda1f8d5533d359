/** @module Starts an in-process gateway on 127.0.0.1 port 0 from a partial config, for integration tests. */
import pino, { type Logger } from 'pino'
import { validateConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/schema.js'
import { createGateway, type Gateway } from '../../src/gateway/index.js'
import type { Admission } from '../../src/limits/admission.js'
import type { Recorder } from '../../src/telemetry/recorder.js'

export interface TestGateway {
  url: string
  gw: Gateway
  config: Config
  close(): Promise<void>
}

/** Builds a validated config: gateway on 127.0.0.1:0 with the access log off unless given. */
export function testConfig(partial: Record<string, unknown>): Config {
  const gateway = {
    host: '127.0.0.1',
    port: 0,
    accessLog: { enabled: false },
    ...(partial.gateway as object),
  }
  const r = validateConfig({ ...partial, gateway })
  if (r.config === null) throw new Error(r.problems.map((p) => `${p.path}: ${p.message}`).join('\n'))
  return r.config
}

export async function startGateway(
  partial: Record<string, unknown>,
  opts: { admission?: Admission; recorder?: Recorder; logger?: Logger } = {},
): Promise<TestGateway> {
  const config = testConfig(partial)
  const gw = createGateway(config, { ...opts, logger: opts.logger ?? pino({ level: 'silent' }) })
  const { port } = await gw.listen()
  return { url: `http://127.0.0.1:${port}`, gw, config, close: () => gw.close(1000) }
}
