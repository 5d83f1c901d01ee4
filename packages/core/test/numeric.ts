// Numeric helpers shared by the kernel and layout tests.
import assert from 'node:assert/strict';

/** `n` deterministic values in (−scale, scale), different for each seed. */
export function deterministicValues(n: number, seed: number, scale = 1): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * scale);
}

/** Element-wise |actual − expected| ≤ tol · max(1, |expected|), naming the first element that is not. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    assert.ok(d <= tol * Math.max(1, Math.abs(expected[i]!)), `${what}[${i}]: ${actual[i]} vs ${expected[i]} (|Δ| ${d})`);
  }
}
