/**
 * Appends tokens to the vocabulary of a vlm checkpoint without changing what it computes on the old tokens: new
 * embedding rows are 0, new output-head columns are 0 with bias −30 (probability ≈ e^−30 relative to a logit-0
 * token, so sampling and greedy decoding are unchanged for all practical purposes). Used when a task's vocabulary
 * grows (e.g. the IVR-R1 critique tokens) and a checkpoint that never needs the new tokens (the TGRL expert) must
 * load into the new vocabulary.
 *
 *   npx tsx scripts/extend-vocabulary.mts <checkpoint-dir> <token> [<token> …]
 *
 * The checkpoint is rewritten atomically in place. Fails when a token is already in the vocabulary.
 */
import { VLM_CHECKPOINT_FORMAT, readCheckpoint, writeCheckpoint, type CheckpointTensor } from '@mmrl/core';

const [dir, ...added] = process.argv.slice(2);
if (!dir || added.length === 0) {
  console.error('usage: npx tsx scripts/extend-vocabulary.mts <checkpoint-dir> <token> [<token> …]');
  process.exit(2);
}
const { manifest, tensors } = await readCheckpoint(dir, VLM_CHECKPOINT_FORMAT);
const dup = added.find((t) => manifest.vocabulary.includes(t));
if (dup !== undefined) throw new Error(`${dir}: token ${JSON.stringify(dup)} is already in the vocabulary`);
const v = manifest.vocabulary.length;
const k = added.length;
const grow = (name: string, f: (t: CheckpointTensor) => CheckpointTensor) => {
  const t = tensors.get(name);
  if (!t) throw new Error(`${dir}: no tensor ${name}`);
  tensors.set(name, f(t));
};
grow('text/embed', (t) => {
  const [rows, d] = t.shape as [number, number];
  if (rows !== v) throw new Error(`text/embed has ${rows} rows for a vocabulary of ${v}`);
  const data = new Float32Array((rows + k) * d);
  data.set(t.data);
  return { ...t, shape: [rows + k, d], data };
});
grow('head/w', (t) => {
  const [d, cols] = t.shape as [number, number];
  const data = new Float32Array(d * (cols + k));
  for (let r = 0; r < d; r++) data.set(t.data.subarray(r * cols, (r + 1) * cols), r * (cols + k));
  return { ...t, shape: [d, cols + k], data };
});
grow('head/b', (t) => {
  const data = new Float32Array(v + k).fill(-30);
  data.set(t.data);
  return { ...t, shape: [v + k], data };
});
await writeCheckpoint(dir, {
  format: manifest.format,
  version: manifest.version,
  architecture: { ...manifest.architecture, vocabSize: v + k },
  vocabulary: [...manifest.vocabulary, ...added],
  tensors: [...tensors.values()],
});
console.log(`${dir}: vocabulary ${v} → ${v + k} tokens (+ ${added.join(' ')})`);
