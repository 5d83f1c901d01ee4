import type { Rng } from '../util/rng.js';

/** How a token is chosen from a row of logits. */
export interface SamplingOptions {
  /** Logits are divided by this before the softmax (> 0). Ignored when `greedy`. */
  temperature: number;
  /** Nucleus mass in (0, 1]: sample among the most probable tokens whose mass first reaches `topP`; 1 = all. */
  topP: number;
  /** Take the arg-max (lowest id on ties); no random number is drawn. */
  greedy: boolean;
}

/**
 * `log_softmax(logits / temperature)` of one row, in float64.
 * @param logits flat buffer; the row is `logits[offset … offset + size)`.
 * @returns `size` log-probabilities (nats).
 */
export function logSoftmaxRow(logits: ArrayLike<number>, offset: number, size: number, temperature = 1): Float64Array {
  const out = new Float64Array(size);
  let max = -Infinity;
  for (let i = 0; i < size; i++) {
    const z = logits[offset + i]! / temperature;
    out[i] = z;
    if (z > max) max = z;
  }
  let sum = 0;
  for (let i = 0; i < size; i++) sum += Math.exp(out[i]! - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < size; i++) out[i] = out[i]! - lse;
  return out;
}

/**
 * Chooses one token from a row of logits.
 *
 * The returned `logprob` is `log_softmax(logits / temperature)` at the token over the FULL vocabulary (top-p
 * truncation is not renormalised into it), i.e. exactly what a forward pass at the same temperature scores, so
 * on-policy ratios start at 1. Greedy decoding reports the log-probability at temperature 1.
 * Uses one `rng.next()` per sampled (non-greedy) token.
 * @param logits flat buffer; the row is `logits[offset … offset + size)`.
 */
export function sampleToken(
  logits: ArrayLike<number>,
  offset: number,
  size: number,
  options: SamplingOptions,
  rng: Rng,
): { token: number; logprob: number } {
  if (options.greedy) {
    let best = 0;
    for (let i = 1; i < size; i++) if (logits[offset + i]! > logits[offset + best]!) best = i;
    return { token: best, logprob: logSoftmaxRow(logits, offset, size, 1)[best]! };
  }
  if (!(options.temperature > 0)) throw new Error(`sampler: temperature must be > 0, got ${options.temperature}`);
  if (!(options.topP > 0 && options.topP <= 1)) throw new Error(`sampler: topP must be in (0, 1], got ${options.topP}`);
  const logp = logSoftmaxRow(logits, offset, size, options.temperature);
  const u = rng.next();
  if (options.topP >= 1) {
    let acc = 0;
    for (let i = 0; i < size; i++) {
      acc += Math.exp(logp[i]!);
      if (u < acc) return { token: i, logprob: logp[i]! };
    }
    // Rounding left the cumulative mass just under u: take the last token with mass.
    let last = size - 1;
    while (last > 0 && logp[last] === -Infinity) last--;
    return { token: last, logprob: logp[last]! };
  }
  const order = Array.from({ length: size }, (_, i) => i).sort((a, b) => logp[b]! - logp[a]! || a - b);
  let kept = 0;
  let mass = 0;
  while (kept < size) {
    mass += Math.exp(logp[order[kept]!]!);
    kept++;
    if (mass >= options.topP) break;
  }
  const target = u * mass;
  let acc = 0;
  for (let k = 0; k < kept; k++) {
    const id = order[k]!;
    acc += Math.exp(logp[id]!);
    if (target < acc) return { token: id, logprob: logp[id]! };
  }
  const id = order[kept - 1]!;
  return { token: id, logprob: logp[id]! };
}
