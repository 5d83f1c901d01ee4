import { definePlugin, PLUGIN_API_VERSION } from '@mmrl/core';
import { fashionShelfTask } from './tasks/fashion-shelf.js';
import { vlmPolicy } from './policies/vlm.js';
import { boxedAccuracyReward } from './rewards/boxed-accuracy.js';
import { onPolicySource } from './sources/on-policy.js';
import { grpoAdvantage } from './advantage/grpo.js';
import { ppoClipObjective } from './objectives/ppo-clip.js';

export * from './tasks/idx.js';
export * from './tasks/fashion-shelf.js';
export * from './policies/vlm.js';
export * from './rewards/answer-grading.js';
export * from './rewards/boxed-accuracy.js';
export * from './sources/on-policy.js';
export * from './advantage/grpo.js';
export * from './objectives/aggregation.js';
export * from './objectives/kl.js';
export * from './objectives/ppo-clip.js';

/** The built-in strategies, packaged exactly as a third-party plugin (empty namespace). */
const builtins = definePlugin({
  meta: { name: '@mmrl/plugins', version: '0.1.0', namespace: '', apiVersion: `^${PLUGIN_API_VERSION}` },
  strategies: [fashionShelfTask, vlmPolicy, boxedAccuracyReward, onPolicySource, grpoAdvantage, ppoClipObjective],
});
export default builtins;
