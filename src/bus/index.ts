/** @module Public surface of the bus: the port, its adapters and the one place that picks an adapter. */
export {
  INHERIT_SLACK_MS,
  SUBJECT_AUDIT,
  SUBJECT_CLIENTS,
  SUBJECT_ROLLUPS,
  SUBJECT_SPANS,
  SUBJECT_TARGETS,
} from './bus.js'
export {
  BusTargetPool,
  appliedSubject,
  decodeApplied,
  decodeTargets,
  encodeApplied,
  encodeTargets,
  followTargets,
} from './targets.js'
export type {
  BusTargetPoolOptions,
  GatewayLeft,
  TargetsApplied,
  TargetsFollower,
  TargetsMessage,
} from './targets.js'
export type {
  Bus,
  BusHandler,
  BusMessage,
  DurableSubscription,
  Inherited,
  PublishOptions,
  SubscribeOptions,
  Subscription,
} from './bus.js'
export { MemoryBus } from './memory.js'
export type { MemoryBusOptions } from './memory.js'
// NatsBus is reached through openBus (lazy import) so embedded mode never loads the NATS client
export type { NatsBus } from './nats.js'
export type { NatsBusOptions, StreamSpec } from './nats.js'
export { busSubjects, openBus } from './open.js'
export type { BusSubjects } from './open.js'
