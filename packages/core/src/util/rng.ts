import seedrandom from 'seedrandom';

/** A seeded random number generator (seedrandom's ARC4) whose state can be saved and restored. */
export class Rng {
  private prng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>;

  /** @param state a value returned by {@link Rng.state} to resume from (the seed is then ignored). */
  constructor(seed: number | string, state?: object) {
    this.prng = seedrandom(String(seed), { state: (state as seedrandom.State.Arc4 | undefined) ?? true });
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.prng.quick();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  /** Serialisable state (for checkpoints). */
  state(): object {
    return this.prng.state();
  }
}

/** Derives a sub-seed from a base seed and labels (stable across runs). */
export function deriveSeed(base: number, ...labels: (string | number)[]): number {
  let h = (base >>> 0) ^ 0x9e3779b9;
  for (const label of labels) {
    for (const ch of String(label)) {
      h = Math.imul(h ^ ch.charCodeAt(0), 0x85ebca6b);
      h ^= h >>> 13;
    }
    h = Math.imul(h ^ 0x27d4eb2f, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}
