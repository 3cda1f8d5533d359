/**
 * @module Streams and a targets subject of one test alone (a random tag in every name), for tests
 * of the run-time targets over NATS JetStream: nothing another test or run published is replayed.
 */
import { randomBytes } from 'node:crypto'
import { defaultStreams } from '../../src/bus/nats.js'

export function freshTargetStreams() {
  const tag = randomBytes(4).toString('hex')
  const subject = `t${tag}.targets`
  const streams = defaultStreams(`T${tag}`, {
    rollups: `t${tag}.rollups`,
    spans: `t${tag}.spans`,
    targets: subject,
  })
  return { tag, subject, streams }
}
