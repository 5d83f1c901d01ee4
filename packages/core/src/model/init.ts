import { Rng, deriveSeed } from '../util/rng.js';

/** How one parameter tensor starts. */
export type ParameterInit = { kind: 'zeros' } | { kind: 'ones' } | { kind: 'normal'; std: number };

/**
 * Initial values of a parameter, deterministic in `(seed, name)` and independent of the backend and of the other
 * parameters (adding a tensor does not change the others).
 * @returns a Float32Array of `prod(shape)` values.
 */
export function initialValues(shape: readonly number[], init: ParameterInit, seed: number, name: string): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  if (init.kind === 'ones') return out.fill(1);
  if (init.kind === 'zeros') return out;
  const rng = new Rng(deriveSeed(seed, 'init', name));
  for (let i = 0; i < size; i += 2) {
    // Box–Muller: two standard normals per pair of uniforms.
    const u1 = 1 - rng.next();
    const u2 = rng.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2) * init.std;
    if (i + 1 < size) out[i + 1] = r * Math.sin(2 * Math.PI * u2) * init.std;
  }
  return out;
}
