import type * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Policy } from '../contracts/policy.js';
import { writeDirectoryAtomic } from '../model/checkpoint-io.js';
import { writeFileAtomic } from './checkpoint.js';
import type { MetricsRow } from './metrics.js';
import {
  loadTrainingCheckpoint,
  saveTrainingCheckpoint,
  type TrainingState,
} from './training-checkpoint.js';

/** Sub-directory of an RL training checkpoint holding the frozen reference policy (the policy RL started from). */
export const REFERENCE_DIR = 'reference';

/**
 * Writes an RL training checkpoint atomically: everything {@link saveTrainingCheckpoint} writes, plus
 * `reference/` (the frozen reference policy of a KL term) when given. One directory rename makes it visible.
 */
export async function saveRlCheckpoint(
  dir: string,
  policy: Policy,
  optimizer: tf.Optimizer,
  reference: Policy | null,
  state: Omit<TrainingState, 'format' | 'version'>,
): Promise<void> {
  await writeDirectoryAtomic(dir, async (tmp) => {
    // saveTrainingCheckpoint replaces `tmp` (already created) atomically with the complete training checkpoint;
    // the reference is added inside before the outer rename publishes the whole directory.
    await saveTrainingCheckpoint(tmp, policy, optimizer, state);
    if (reference) await reference.save(join(tmp, REFERENCE_DIR));
  });
}

/**
 * Restores an RL training checkpoint written by {@link saveRlCheckpoint} into `policy`, `optimizer` and, when
 * given, `reference`.
 * @throws Error naming the path when the checkpoint (or its `reference/`, when a reference is asked for) is missing.
 */
export async function loadRlCheckpoint(
  dir: string,
  policy: Policy,
  optimizer: tf.Optimizer,
  reference: Policy | null,
): Promise<TrainingState> {
  const state = await loadTrainingCheckpoint(dir, policy, optimizer);
  if (reference) {
    const refDir = join(resolve(dir), REFERENCE_DIR);
    if (!existsSync(join(refDir, 'manifest.json'))) {
      throw new Error(
        `Training checkpoint ${resolve(dir)}: the objective has a KL term but the checkpoint holds no reference ` +
          `policy (${REFERENCE_DIR}/); it cannot be resumed exactly`,
      );
    }
    await reference.load(refDir);
  }
  return state;
}

/**
 * Prepares `metrics.jsonl` for a run resumed at `step` (completed RL steps): keeps every row up to and including the
 * RL row of step `step − 1` and drops the rest (rows a crashed or stopped run wrote after its checkpoint, which
 * the resumed run writes again). Without such a row (an RL phase that logged nothing yet), keeps the rows before
 * the first RL row of a step ≥ `step`. Rewritten atomically.
 * @returns the kept rows.
 */
export async function truncateMetricsAfterStep(file: string, step: number): Promise<MetricsRow[]> {
  if (!existsSync(file)) return [];
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  const rows = lines.map((l, i) => {
    try {
      return JSON.parse(l) as MetricsRow;
    } catch {
      throw new Error(`${file}: line ${i + 1} is not JSON; cannot resume into this metrics file`);
    }
  });
  const isRl = (r: MetricsRow) => r['phase'] === 'rl' && typeof r['step'] === 'number';
  let end = -1;
  for (let i = rows.length - 1; i >= 0; i--) {
    if (isRl(rows[i]!) && rows[i]!['step'] === step - 1) {
      end = i + 1;
      break;
    }
  }
  if (end < 0) {
    const firstLater = rows.findIndex((r) => isRl(r) && (r['step'] as number) >= step);
    end = firstLater < 0 ? rows.length : firstLater;
  }
  const kept = rows.slice(0, end);
  await writeFileAtomic(file, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return kept;
}
