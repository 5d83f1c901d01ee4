import { resolve } from 'node:path';
import { readCheckpoint, writeCheckpoint } from './checkpoint-io.js';
import type { VlmArchitecture, VlmModel } from './vlm-model.js';

/** Format name and version written into the manifest of a VLM checkpoint. */
export const VLM_CHECKPOINT_FORMAT = 'mmrl-vlm';
export const VLM_CHECKPOINT_VERSION = 1;

/** Saves a model's weights, architecture and vocabulary to `dir` atomically (see `writeCheckpoint`). */
export async function saveVlmCheckpoint(dir: string, model: VlmModel, vocabulary: readonly string[]): Promise<void> {
  await writeCheckpoint(dir, {
    format: VLM_CHECKPOINT_FORMAT,
    version: VLM_CHECKPOINT_VERSION,
    architecture: { ...model.architecture } as unknown as Record<string, unknown>,
    vocabulary,
    tensors: await model.exportWeights(),
  });
}

/** The architecture recorded in a VLM checkpoint (to build a matching model). @throws Error naming the path. */
export async function readVlmArchitecture(dir: string): Promise<{ architecture: VlmArchitecture; vocabulary: string[] }> {
  const { manifest } = await readCheckpoint(dir, VLM_CHECKPOINT_FORMAT);
  return { architecture: manifest.architecture as unknown as VlmArchitecture, vocabulary: manifest.vocabulary };
}

function architectureDiff(saved: Record<string, unknown>, current: VlmArchitecture): string {
  const diffs: string[] = [];
  for (const [key, value] of Object.entries(current)) {
    if (JSON.stringify(saved[key]) !== JSON.stringify(value)) {
      diffs.push(`${key} ${JSON.stringify(saved[key])} in the checkpoint vs ${JSON.stringify(value)} here`);
    }
  }
  return diffs.join(', ');
}

/**
 * Loads weights saved by {@link saveVlmCheckpoint} into `model`.
 * @param vocabulary the vocabulary of the model's tokenizer; it must equal the checkpoint's.
 * @throws Error naming the path when it is missing; naming the tensor and both shapes (and the architecture fields
 *   that differ) when a shape disagrees; listing the first difference when the vocabulary differs. On error the
 *   model's weights are unchanged.
 */
export async function loadVlmCheckpoint(dir: string, model: VlmModel, vocabulary: readonly string[]): Promise<void> {
  const path = resolve(dir);
  const { manifest, tensors } = await readCheckpoint(path, VLM_CHECKPOINT_FORMAT);
  if (manifest.version !== VLM_CHECKPOINT_VERSION) {
    throw new Error(`Checkpoint ${path}: ${VLM_CHECKPOINT_FORMAT} version ${manifest.version}, this build reads ${VLM_CHECKPOINT_VERSION}`);
  }
  const diff = architectureDiff(manifest.architecture, model.architecture);
  const saved = manifest.vocabulary ?? [];
  const sameVocabulary = saved.length === vocabulary.length && saved.every((w, i) => w === vocabulary[i]);
  const vocabularyError = (): Error => {
    const i = saved.findIndex((w, k) => w !== vocabulary[k]);
    const at = i >= 0 ? i : Math.min(saved.length, vocabulary.length);
    return new Error(
      `Checkpoint ${path}: vocabulary differs from the task's (${saved.length} vs ${vocabulary.length} tokens; ` +
        `first difference at id ${at}: ${JSON.stringify(saved[at])} vs ${JSON.stringify(vocabulary[at])})`,
    );
  };
  // A vocabulary of another size shows up as a shape disagreement (named below); same size, other words: here.
  if (!sameVocabulary && saved.length === vocabulary.length) throw vocabularyError();
  try {
    model.importWeights(tensors, `Checkpoint ${path}`);
  } catch (e) {
    throw new Error(`${(e as Error).message}${diff ? ` (architecture differs: ${diff})` : ''}`);
  }
  if (!sameVocabulary) throw vocabularyError();
}
