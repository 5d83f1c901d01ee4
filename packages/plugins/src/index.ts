import { definePlugin, PLUGIN_API_VERSION } from '@mmrl/core';
import { fashionShelfTask } from './tasks/fashion-shelf.js';
import { vlmPolicy } from './policies/vlm.js';
import { boxedAccuracyReward } from './rewards/boxed-accuracy.js';
import { onPolicySource } from './sources/on-policy.js';
import { expertSource } from './sources/expert.js';
import { ivrRectificationSource } from './sources/ivr-rectification.js';
import { grpoAdvantage } from './advantage/grpo.js';
import { drGrpoAdvantage } from './advantage/dr-grpo.js';
import { rlooAdvantage } from './advantage/rloo.js';
import { reinforcePpAdvantage } from './advantage/reinforce-pp.js';
import { reinforcePpBaselineAdvantage } from './advantage/reinforce-pp-baseline.js';
import { durianAdvantage } from './advantage/durian.js';
import { ppoClipObjective } from './objectives/ppo-clip.js';
import { fipoObjective } from './objectives/fipo.js';
import { deltaLogpWeighter } from './weighting/delta-logp.js';
import { vgpoWeighter } from './weighting/vgpo.js';
import { torWeighter } from './weighting/tor.js';
import { tgrlWeighter } from './weighting/tgrl.js';
import { ivrShapingWeighter } from './weighting/ivr-shaping.js';

export * from './tasks/idx.js';
export * from './tasks/fashion-shelf.js';
export * from './policies/vlm.js';
export * from './policies/extrapolated.js';
export * from './rewards/answer-grading.js';
export * from './rewards/boxed-accuracy.js';
export * from './sources/on-policy.js';
export * from './sources/expert.js';
export * from './sources/expert-file.js';
export * from './sources/ivr-rectification.js';
export * from './advantage/grpo.js';
export * from './advantage/dr-grpo.js';
export * from './advantage/rloo.js';
export * from './advantage/reinforce-pp.js';
export * from './advantage/reinforce-pp-baseline.js';
export * from './advantage/durian.js';
export * from './objectives/aggregation.js';
export * from './objectives/kl.js';
export * from './objectives/ppo-clip.js';
export * from './objectives/fipo.js';
export * from './weighting/delta-logp.js';
export * from './weighting/vgpo.js';
export * from './weighting/tor.js';
export * from './weighting/tgrl.js';
export * from './weighting/ivr-shaping.js';
export * from './objectives/ratio-override.js';

/** The built-in strategies, packaged exactly as a third-party plugin (empty namespace). */
const builtins = definePlugin({
  meta: { name: '@mmrl/plugins', version: '0.1.0', namespace: '', apiVersion: `^${PLUGIN_API_VERSION}` },
  strategies: [
    fashionShelfTask,
    vlmPolicy,
    boxedAccuracyReward,
    onPolicySource,
    expertSource,
    ivrRectificationSource,
    grpoAdvantage,
    drGrpoAdvantage,
    rlooAdvantage,
    reinforcePpAdvantage,
    reinforcePpBaselineAdvantage,
    durianAdvantage,
    ppoClipObjective,
    fipoObjective,
    deltaLogpWeighter,
    vgpoWeighter,
    torWeighter,
    tgrlWeighter,
    ivrShapingWeighter,
  ],
});
export default builtins;
