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
