// Shared fixtures of the model tests: a tiny architecture and random rows (fast on wasm).
import { Rng, collateSequences, type SequenceRow, type VlmArchitecture } from '../../src/index.js';

export const TINY: VlmArchitecture = {
  vocabSize: 12,
  dModel: 16,
  layers: 2,
  heads: 2,
  ffnDim: 32,
  patchSize: 4,
  maxPositions: 32,
  imageShape: [8, 12],
};

export function randomImage(rng: Rng, [h, w]: readonly [number, number] = TINY.imageShape): Float32Array {
  return Float32Array.from({ length: h * w }, () => rng.next());
}

/** Random tokens in [3, vocab) (no pad/bos/eos). */
export function randomTokens(rng: Rng, length: number, vocab = TINY.vocabSize): number[] {
  return Array.from({ length }, () => 3 + rng.int(vocab - 3));
}

export function randomRows(seed: number, count: number, promptLengths: readonly number[], responseLength: number): SequenceRow[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, (_, i) => ({
    image: randomImage(rng),
    promptTokens: randomTokens(rng, promptLengths[i % promptLengths.length]!),
    responseTokens: randomTokens(rng, responseLength),
  }));
}

export function collate(rows: readonly SequenceRow[], responseLength?: number) {
  return collateSequences(rows, TINY.imageShape, 0, responseLength);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
