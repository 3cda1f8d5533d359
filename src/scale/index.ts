/**
 * @module The autoscaler's public surface: the scaling policy, its offline simulation and the
 * Actuator port. The docker and kubernetes adapters are imported on demand (./actuators/*.js):
 * they pull in dockerode and @kubernetes/client-node.
 */
export { ScalingPolicy, limitsProblem, replicasFor } from './policy.js'
export { SelectingPolicy, ShadowFleet, VolatilityBand } from './selector.js'
export { CapacityEstimator, capacityOptionsProblem, isotonic } from './capacity.js'
export type {
  CapacityEstimate,
  CapacityEvidence,
  CapacityLearningOptions,
  CapacitySource,
  CapacityWindow,
} from './capacity.js'
export type { SelectingPolicyOptions } from './selector.js'
export type {
  Decision,
  DecisionEvidence,
  DecisionInput,
  PeakForecast,
  PolicyKind,
  PolicyOptions,
  ScalingLimits,
} from './policy.js'
export {
  HPA_STABILIZATION_MS,
  HPA_TOLERANCE,
  leadSteps,
  runPerfectForesight,
  runPredictive,
  runReactive,
  simulate,
} from './simulate.js'
export type {
  Decide,
  PolicyRunOptions,
  PredictiveRun,
  SimulationOptions,
  SimulationResult,
} from './simulate.js'
export { KeyedQueue } from './actuator.js'
export type { Actuator, Adoption, Replica, RestartResult, ScaleResult, TargetPool } from './actuator.js'
export { ProcessActuator } from './actuators/process.js'
export type { ProcessActuatorOptions, ProcessServiceOptions } from './actuators/process.js'
export type { DockerActuatorOptions, DockerServiceOptions } from './actuators/docker.js'
export type { KubernetesActuatorOptions, KubernetesServiceOptions } from './actuators/kubernetes.js'
