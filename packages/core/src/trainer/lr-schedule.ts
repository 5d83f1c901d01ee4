/**
 * Learning-rate schedules of the RL trainer (`trainer.lrSchedule`): linear warm-up, then constant, linear or cosine
 * decay to `minRatio` × the peak rate over the remaining steps.
 *
 * This is the schedule family verl (`optim.warmup_style` constant/cosine, `lr_warmup_steps`, `min_lr_ratio`) and
 * TRL (`lr_scheduler_type` linear/cosine/constant, `warmup_steps`) expose; the rate is set once per RL step (one
 * rollout batch), so every optimizer update of a step (`ppoEpochs` × `miniBatches`) uses the same rate. It is a pure
 * function of the step, so a resumed run follows the same schedule as an uninterrupted one.
 */
import type { LrScheduleConfig } from '../config/base-schema.js';

/**
 * The learning rate of RL step `step` (0-based) of `totalSteps`.
 *
 * - Warm-up (`step < warmupSteps`): `peak · (step + 1) / warmupSteps`, so the first update is not taken at rate 0.
 * - Then, with progress p = (step − warmupSteps) / max(1, totalSteps − warmupSteps − 1) ∈ [0, 1]:
 *   constant `peak`; linear `peak · (1 − (1 − minRatio) · p)`; cosine `peak · (minRatio + (1 − minRatio) · (1 + cos πp) / 2)`.
 *   The last step runs at exactly `minRatio · peak`.
 *
 * @param peak trainer.learningRate (> 0).
 * @throws Error when `step` is outside [0, totalSteps). (A warm-up as long as the run, which would leave a decaying
 *   schedule no step to decay over, is rejected by config validation at `/trainer/lrSchedule/warmupSteps`.)
 */
export function scheduledLearningRate(
  peak: number,
  step: number,
  totalSteps: number,
  schedule: LrScheduleConfig | undefined,
): number {
  if (!schedule) return peak;
  if (!Number.isInteger(step) || step < 0 || step >= totalSteps) {
    throw new Error(`lr schedule: step ${step} is outside [0, ${totalSteps})`);
  }
  const warmup = schedule.warmupSteps ?? 0;
  const minRatio = schedule.minRatio ?? 0;
  if (step < warmup) return (peak * (step + 1)) / warmup;
  if (schedule.name === 'constant') return peak;
  const span = totalSteps - warmup - 1;
  const p = span <= 0 ? 1 : (step - warmup) / span;
  const factor = schedule.name === 'linear' ? 1 - (1 - minRatio) * p : minRatio + ((1 - minRatio) * (1 + Math.cos(Math.PI * p))) / 2;
  return peak * factor;
}
