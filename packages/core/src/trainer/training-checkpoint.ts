import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Policy } from '../contracts/policy.js';
import { readCheckpoint, writeCheckpoint, writeDirectoryAtomic, writeFileSynced } from '../model/checkpoint-io.js';

export const TRAINING_STATE_FORMAT = 'mmrl-training-state';
export const OPTIMIZER_FORMAT = 'mmrl-optimizer';

/** `state.json` of a training checkpoint. */
export interface TrainingState {
  format: typeof TRAINING_STATE_FORMAT;
  version: 1;
  /** Completed optimizer-loop steps (the next step to run). */
  step: number;
  /** Serialisable RNG states by name (e.g. the prompt-order generator). */
  rng: Record<string, object>;
  /** The resolved run config. */
  config: unknown;
  /** Anything else the trainer needs to continue (e.g. the pending prompt order). */
  extra: Record<string, unknown>;
}

/**
 * Writes a training checkpoint atomically (one temporary directory renamed into place):
 * `policy/` (the policy's own format), `optimizer/` (every optimizer slot, keyed by the index of its variable in
 * `policy.trainableVariables`, so it restores into a fresh process whose variable names differ) and `state.json`.
 */
export async function saveTrainingCheckpoint(
  dir: string,
  policy: Policy,
  optimizer: tf.Optimizer,
  state: Omit<TrainingState, 'format' | 'version'>,
): Promise<void> {
  const index = new Map(policy.trainableVariables.map((v, i) => [v.name, i]));
  const weights = await optimizer.getWeights();
  const tensors = await Promise.all(
    weights.map(async ({ name, tensor }) => {
      const slash = name.lastIndexOf('/');
      const variable = slash > 0 ? name.slice(0, slash) : name;
      const i = index.get(variable);
      const key = i === undefined ? name : `var${i}${name.slice(slash)}`;
      return { name: key, shape: [...tensor.shape], data: Float32Array.from(await tensor.data()) };
    }),
  );
  await writeDirectoryAtomic(dir, async (tmp) => {
    await policy.save(join(tmp, 'policy'));
    await writeCheckpoint(join(tmp, 'optimizer'), {
      format: OPTIMIZER_FORMAT,
      version: 1,
      architecture: { optimizer: optimizer.getClassName(), order: weights.map((w) => w.name) },
      vocabulary: [],
      tensors,
    });
    const full: TrainingState = { format: TRAINING_STATE_FORMAT, version: 1, ...state };
    await writeFileSynced(join(tmp, 'state.json'), `${JSON.stringify(full, null, 2)}\n`);
  });
}

/**
 * Restores a training checkpoint written by {@link saveTrainingCheckpoint} into `policy` and `optimizer`.
 * @returns the saved state.
 * @throws Error naming the path when it is missing or not a training checkpoint, or (from the policy) when the
 *   architecture disagrees.
 */
export async function loadTrainingCheckpoint(dir: string, policy: Policy, optimizer: tf.Optimizer): Promise<TrainingState> {
  const path = resolve(dir);
  const state = await readTrainingState(path);
  await policy.load(join(path, 'policy'));
  const { manifest, tensors } = await readCheckpoint(join(path, 'optimizer'), OPTIMIZER_FORMAT);
  const names = policy.trainableVariables.map((v) => v.name);
  const order = (manifest.architecture['order'] as string[] | undefined) ?? [];
  const restored = manifest.tensors.map((entry, k) => {
    const t = tensors.get(entry.name)!;
    const m = /^var(\d+)(\/.*)$/.exec(entry.name);
    const name = m ? `${names[Number(m[1])]}${m[2]}` : (order[k] ?? entry.name);
    return { name, tensor: tf.tensor(t.data, t.shape) };
  });
  await optimizer.setWeights(restored);
  tf.dispose(restored.map((r) => r.tensor));
  return state;
}

/**
 * Reads `state.json` of a training checkpoint.
 * @throws Error naming the path when it is missing or not a training checkpoint.
 */
export async function readTrainingState(dir: string): Promise<TrainingState> {
  const path = resolve(dir);
  let state: TrainingState;
  try {
    state = JSON.parse(await readFile(join(path, 'state.json'), 'utf8')) as TrainingState;
  } catch (e) {
    throw new Error(`Training checkpoint ${path}: cannot read state.json: ${(e as Error).message}`);
  }
  if (state.format !== TRAINING_STATE_FORMAT) {
    throw new Error(`Training checkpoint ${path}: state.json format "${state.format}", expected "${TRAINING_STATE_FORMAT}"`);
  }
  return state;
}
