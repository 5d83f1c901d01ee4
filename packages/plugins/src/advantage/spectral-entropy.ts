/**
 * Spectral (von Neumann-style) entropy of a set of feature vectors, Durian's data-centric perceptual difficulty
 * (METHODS.md §2.6, Durian Eqs. 5–9), and the Jacobi eigenvalue iteration it needs. Pure float64 arithmetic.
 */

/** Options of {@link jacobiEigenvalues}. */
export interface JacobiOptions {
  /** Stop when the off-diagonal Frobenius norm is at most `tolerance` × the matrix Frobenius norm. Default 1e-12. */
  tolerance?: number;
  /** Upper bound on full sweeps over the off-diagonal entries. Default 100. */
  maxSweeps?: number;
}

/**
 * Eigenvalues of a real symmetric `n × n` matrix by cyclic Jacobi rotations.
 * @param matrix row-major `[n, n]`; only symmetric input is meaningful (the lower triangle is taken as given). Not
 *   modified.
 * @returns the `n` eigenvalues in descending order.
 * @throws Error when `matrix.length ≠ n²`, an entry is not finite, or the matrix is not symmetric (relative 1e-9).
 */
export function jacobiEigenvalues(matrix: ArrayLike<number>, n: number, options: JacobiOptions = {}): Float64Array {
  if (!Number.isInteger(n) || n < 0) throw new Error(`jacobiEigenvalues: n = ${n} is not a non-negative integer`);
  if (matrix.length !== n * n) throw new Error(`jacobiEigenvalues: matrix has ${matrix.length} entries, expected ${n}² = ${n * n}`);
  const tolerance = options.tolerance ?? 1e-12;
  const maxSweeps = options.maxSweeps ?? 100;
  const a = Float64Array.from(matrix as ArrayLike<number>);
  let norm = 0;
  for (let k = 0; k < a.length; k++) {
    if (!Number.isFinite(a[k]!)) throw new Error(`jacobiEigenvalues: entry ${k} is ${a[k]}`);
    norm += a[k]! * a[k]!;
  }
  norm = Math.sqrt(norm);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (Math.abs(a[i * n + j]! - a[j * n + i]!) > 1e-9 * Math.max(1, norm)) {
        throw new Error(`jacobiEigenvalues: matrix is not symmetric at (${i}, ${j})`);
      }
    }
  }
  const threshold = tolerance * norm;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += 2 * a[i * n + j]! * a[i * n + j]!;
    if (Math.sqrt(off) <= threshold) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        // Rotation angle that zeroes a[p][q]: t = tan θ, the smaller root of t² + 2θ't − 1 = 0 (numerically stable).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          // columns p, q: A ← A·J
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          // rows p, q: A ← Jᵀ·A
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = 0;
        a[q * n + p] = 0;
      }
    }
  }
  const eig = new Float64Array(n);
  for (let i = 0; i < n; i++) eig[i] = a[i * n + i]!;
  return eig.sort().reverse();
}

/**
 * Eigenvalues of the patch covariance `C = X Xᵀ / (P − 1)` (Durian Eq. 6; X = features centred on the mean patch),
 * computed on the smaller Gram matrix (`X Xᵀ` when P ≤ d, else `Xᵀ X`: same non-zero eigenvalues), negatives
 * clamped to 0 (Eq. 7).
 * @param features row-major `[P, d]` patch features.
 * @returns `min(P, d)` eigenvalues, descending, all ≥ 0.
 * @throws Error when `features.length ≠ P·d`, P < 2, d < 1 or an entry is not finite.
 */
export function patchCovarianceEigenvalues(features: ArrayLike<number>, patches: number, dim: number): Float64Array {
  if (!Number.isInteger(patches) || patches < 2) throw new Error(`spectral entropy: needs at least 2 patches, got ${patches}`);
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`spectral entropy: feature dimension ${dim} is not a positive integer`);
  if (features.length !== patches * dim) {
    throw new Error(`spectral entropy: features have ${features.length} entries, expected P·d = ${patches}·${dim}`);
  }
  const x = new Float64Array(patches * dim);
  for (let j = 0; j < dim; j++) {
    let mu = 0;
    for (let i = 0; i < patches; i++) {
      const v = features[i * dim + j]!;
      if (!Number.isFinite(v)) throw new Error(`spectral entropy: feature (${i}, ${j}) is ${v}`);
      mu += v;
    }
    mu /= patches;
    for (let i = 0; i < patches; i++) x[i * dim + j] = features[i * dim + j]! - mu;
  }
  const small = patches <= dim;
  const m = small ? patches : dim;
  const gram = new Float64Array(m * m);
  for (let a = 0; a < m; a++) {
    for (let b = a; b < m; b++) {
      let s = 0;
      if (small) for (let k = 0; k < dim; k++) s += x[a * dim + k]! * x[b * dim + k]!;
      else for (let k = 0; k < patches; k++) s += x[k * dim + a]! * x[k * dim + b]!;
      s /= patches - 1;
      gram[a * m + b] = s;
      gram[b * m + a] = s;
    }
  }
  return jacobiEigenvalues(gram, m).map((l) => Math.max(0, l));
}

/**
 * Shannon entropy (nats) of the normalised eigenvalue spectrum: `p_k = λ_k / Σ_j λ_j`, `H = −Σ p_k ln p_k` with
 * `0·ln 0 := 0` (Durian Eqs. 8–9). Negative eigenvalues count as 0. An all-zero spectrum (constant features) gives 0.
 */
export function spectrumEntropy(eigenvalues: ArrayLike<number>): number {
  let total = 0;
  for (let k = 0; k < eigenvalues.length; k++) total += Math.max(0, eigenvalues[k]!);
  if (!(total > 0)) return 0;
  let h = 0;
  for (let k = 0; k < eigenvalues.length; k++) {
    const p = Math.max(0, eigenvalues[k]!) / total;
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}

/**
 * Image entropy `H(I)` of Durian Eqs. 5–9 from the patch features `[P, d]` (row-major) of one image (multi-image
 * prompts: concatenate the patches first, METHODS.md DU-7).
 */
export function spectralEntropy(features: ArrayLike<number>, patches: number, dim: number): number {
  return spectrumEntropy(patchCovarianceEigenvalues(features, patches, dim));
}
