import type { InjectionToken } from 'tsyringe';
import type { Task } from './contracts/task.js';
import type { Policy } from './contracts/policy.js';
import type { RewardFunction } from './contracts/reward-function.js';
import type { TrajectorySource } from './contracts/trajectory-source.js';
import type { AdvantageEstimator } from './contracts/advantage-estimator.js';
import type { TokenWeighter } from './contracts/token-weighter.js';
import type { PolicyObjective } from './contracts/policy-objective.js';
import type { ResolvedConfig } from './config/base-schema.js';
import type { StrategyRegistry } from './plugin/registry.js';

/** Every DI token of mmrl. `Symbol.for` so that two copies of @mmrl/core agree on identity. */
export const TASK: InjectionToken<Task> = Symbol.for('mmrl.Task');
export const POLICY: InjectionToken<Policy> = Symbol.for('mmrl.Policy');
export const REWARD_FUNCTION: InjectionToken<RewardFunction> = Symbol.for('mmrl.RewardFunction');
/** All trajectory sources of the run, in config order (`@injectAll`). */
export const TRAJECTORY_SOURCE: InjectionToken<TrajectorySource> = Symbol.for('mmrl.TrajectorySource');
export const ADVANTAGE_ESTIMATOR: InjectionToken<AdvantageEstimator> = Symbol.for('mmrl.AdvantageEstimator');
/** All token weighters of the run, in config order (`@injectAll`). */
export const TOKEN_WEIGHTER: InjectionToken<TokenWeighter> = Symbol.for('mmrl.TokenWeighter');
export const POLICY_OBJECTIVE: InjectionToken<PolicyObjective> = Symbol.for('mmrl.PolicyObjective');
/** The validated config with defaults applied. */
export const RUN_CONFIG: InjectionToken<ResolvedConfig> = Symbol.for('mmrl.RunConfig');
export const REGISTRY: InjectionToken<StrategyRegistry> = Symbol.for('mmrl.Registry');
