/** @module The autoscaler's public surface: the scaling policy and its offline simulation. */
export { ScalingPolicy, limitsProblem, replicasFor } from './policy.js'
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
