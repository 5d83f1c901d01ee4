import 'reflect-metadata';

// Plugin API
export * from './plugin/types.js';
export * from './plugin/define.js';
export * from './plugin/registry.js';
export * from './plugin/api-version.js';
export * from './tokens.js';
export { inject, injectAll, injectable } from 'tsyringe';
export type { DependencyContainer } from 'tsyringe';

// Contracts (one per kind)
export type * from './contracts/task.js';
export type * from './contracts/policy.js';
export type * from './contracts/reward-function.js';
export type * from './contracts/trajectory-source.js';
export type * from './contracts/advantage-estimator.js';
export type * from './contracts/token-weighter.js';
export type * from './contracts/policy-objective.js';

// Rollouts
export type * from './rollout/types.js';
export * from './rollout/batch.js';
export * from './rollout/encode.js';

// Config and DI
export * from './config/base-schema.js';
export * from './config/config-error.js';
export * from './config/compose-schema.js';
export * from './config/validate.js';
export * from './config/load.js';
export * from './di/run-container.js';

// Trainers
export * from './trainer/metrics.js';
export * from './trainer/checkpoint.js';
export * from './trainer/training-checkpoint.js';
export * from './trainer/optimizer.js';
export * from './trainer/micro-batch.js';
export * from './trainer/dynamic-sampling.js';
export * from './trainer/resume.js';
export * from './trainer/evaluator.js';
export * from './trainer/sft-trainer.js';
export * from './trainer/rl-trainer.js';

// Runtime
export * from './runtime/backend.js';
export * from './runtime/kernels.js';
export * from './runtime/fused-adam.js';
export * from './runtime/fused-layer-norm.js';
export * from './runtime/fused-attention.js';
export * from './runtime/fused-decode-attention.js';
export * from './runtime/webgpu-program.js';
export * from './runtime/wasm-threads.js';

// Utilities
export * from './util/rng.js';
export * from './util/suggest.js';

// Model building blocks
export * from './model/tokenizer.js';
export * from './model/layers.js';
export * from './model/forward-outputs.js';
export * from './model/channel-matmul.js';
export * from './model/attention.js';
export * from './model/decoder-block.js';
export * from './model/kv-cache.js';
export * from './model/patches.js';
export * from './model/init.js';
export * from './model/sampler.js';
export * from './model/checkpoint-io.js';
export * from './model/vlm-model.js';
export * from './model/vlm-checkpoint.js';
export * from './model/generate.js';
export * from './model/extrapolate.js';
