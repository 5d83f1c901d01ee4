/** Members of each group: `groups[g]` lists the row indices whose group index is g. */
export function groupMembers(groupIndex: Int32Array): number[][] {
  const groups: number[][] = [];
  groupIndex.forEach((g, row) => {
    if (g < 0 || !Number.isInteger(g)) throw new Error(`groupIndex[${row}] = ${g} is not a non-negative integer`);
    (groups[g] ??= []).push(row);
  });
  return groups.filter((g) => g !== undefined);
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Standard deviation; `unbiased` divides by n − 1 (torch.std), `population` by n. 0 for a single value. */
export function std(values: readonly number[], kind: 'unbiased' | 'population'): number {
  const n = values.length;
  if (n < 2) return 0;
  const mu = mean(values);
  const ss = values.reduce((a, v) => a + (v - mu) * (v - mu), 0);
  return Math.sqrt(ss / (kind === 'unbiased' ? n - 1 : n));
}

/** Broadcasts sequence advantages `[N]` over the response mask `[N, T]`: `A_{i,t} = A_i · m_{i,t}`. */
export function broadcastToTokens(sequence: Float64Array, mask: Float32Array, tokens: number): Float32Array {
  const out = new Float32Array(mask.length);
  for (let i = 0; i < sequence.length; i++) {
    for (let t = 0; t < tokens; t++) out[i * tokens + t] = sequence[i]! * mask[i * tokens + t]!;
  }
  return out;
}

/**
 * Checks the shapes of an advantage input: rewards `[N]`, groupIndex `[N]`, mask `[N, T]` row-major with T a
 * non-negative integer. `label` names the estimator in the message.
 * @throws Error when a length does not match.
 */
export function assertAdvantageShapes(
  input: { rewards: Float64Array; groupIndex: Int32Array; mask: Float32Array; tokens: number },
  label: string,
): void {
  const { rewards, groupIndex, mask, tokens } = input;
  const n = rewards.length;
  if (!Number.isInteger(tokens) || tokens < 0) throw new Error(`${label}: tokens = ${tokens} is not a non-negative integer`);
  if (groupIndex.length !== n) throw new Error(`${label}: groupIndex has length ${groupIndex.length}, rewards ${n}`);
  if (mask.length !== n * tokens) {
    throw new Error(`${label}: mask has length ${mask.length}, expected N·T = ${n}·${tokens} = ${n * tokens}`);
  }
}

/**
 * Members of each group, requiring at least 2 per group (METHODS.md G-3: a group of size 1 is a configuration
 * error, not a silent A = R as in verl).
 * @throws Error naming the first row of a group of size 1.
 */
export function groupsOfAtLeastTwo(groupIndex: Int32Array, label: string): number[][] {
  const groups = groupMembers(groupIndex);
  for (const rows of groups) {
    if (rows.length < 2) {
      throw new Error(
        `${label} needs at least 2 trajectories per group; group of row ${rows[0]} has 1 (set the samples per prompt ≥ 2)`,
      );
    }
  }
  return groups;
}

/** The `+1e-8` inside the square root of {@link maskedWhiten} (verl/EasyR1 `masked_whiten`). */
export const WHITEN_EPSILON = 1e-8;

/** What {@link maskedWhitenStats} computed: the whitened values and the statistics they were whitened with. */
export interface WhitenStats {
  /** `(x − M) / sqrt(V + 1e-8) · m`, `[N, T]` row-major float32, zero where m = 0. */
  whitened: Float32Array;
  /** M = Σ m·x / n, the token-weighted mean. */
  mean: number;
  /** V = [Σ m·(x − M)² / n] · n/(n − 1), the token-weighted, Bessel-corrected variance. */
  variance: number;
  /** n = Σ m, the (weighted) count of valid tokens. */
  count: number;
}

/**
 * Token-weighted whitening over the whole batch (METHODS.md §2.4 and G-4; verl/EasyR1 `masked_whiten` with
 * `unbiased=True`, `shift_mean=True`), then masked:
 *   n = Σ m,  M = Σ m·x / n,  V = [Σ m·(x − M)² / n] · n/(n − 1),  out = (x − M) / sqrt(V + 1e-8) · m.
 * `values` and `mask` are `[N, T]` row-major (same length); the output is `[N, T]` float32, zero where m = 0, with
 * M, V and n (float64) for diagnostics. Values at positions with m = 0 are ignored. A constant x over the valid tokens
 * gives V = 0 and out = 0.
 * @throws Error when n = Σ m ≤ 1 (METHODS.md G-4: verl raises; EasyR1 only warns and skips Bessel), or the lengths
 *   differ.
 */
export function maskedWhitenStats(values: Float64Array, mask: Float32Array, label = 'masked whitening'): WhitenStats {
  if (values.length !== mask.length) throw new Error(`${label}: values have length ${values.length}, mask ${mask.length}`);
  let n = 0;
  let sum = 0;
  for (let k = 0; k < mask.length; k++) {
    const m = mask[k]!;
    if (m === 0) continue;
    n += m;
    sum += m * values[k]!;
  }
  if (!(n > 1)) {
    throw new Error(
      `${label}: batch whitening needs more than 1 valid response token, got Σ m = ${n} (Bessel correction n/(n − 1) is undefined)`,
    );
  }
  const M = sum / n;
  let ss = 0;
  for (let k = 0; k < mask.length; k++) {
    const m = mask[k]!;
    if (m === 0) continue;
    const d = values[k]! - M;
    ss += m * d * d;
  }
  const V = (ss / n) * (n / (n - 1));
  const scale = 1 / Math.sqrt(V + WHITEN_EPSILON);
  const out = new Float32Array(mask.length);
  for (let k = 0; k < mask.length; k++) {
    const m = mask[k]!;
    if (m !== 0) out[k] = (values[k]! - M) * scale * m;
  }
  return { whitened: out, mean: M, variance: V, count: n };
}

/**
 * {@link maskedWhitenStats} without the statistics: the whitened `[N, T]` float32 values only.
 * @throws Error when n = Σ m ≤ 1 or the lengths differ.
 */
export function maskedWhiten(values: Float64Array, mask: Float32Array, label = 'masked whitening'): Float32Array {
  return maskedWhitenStats(values, mask, label).whitened;
}
