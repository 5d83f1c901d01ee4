import { join, resolve } from 'node:path';
import { deriveSeed, evaluatePassAtK, evaluatePolicy, writeJsonAtomic, POLICY, REWARD_FUNCTION, TASK } from '@mmrl/core';
import { ExtrapolatedVlmPolicy, VlmPolicy, loadExpertPolicy } from '@mmrl/plugins';
import { evaluateSession, openSession, type CommonOptions } from '../session.js';

/**
 * `mmrl eval <config> --checkpoint <dir> [--prompts n]`: held-out pass@1 with greedy decoding on test images and, with
 * `--samples n` (or `eval.samples`), the unbiased pass@k for `eval.passK`; printed as a table, or JSON with `--json`.
 */
export interface EvalOptions extends CommonOptions {
  json?: boolean;
  /** Held-out test prompts (overrides `eval.prompts`). */
  prompts?: string;
  samples?: string;
  /** Δlog p test-time extrapolation: the base checkpoint the policy is extrapolated away from. */
  extrapolateBase?: string;
  extrapolateAlpha?: string;
  extrapolateTau?: string;
  extrapolateTopK?: string;
}

function numberOption(value: string | undefined, flag: string, fallback: number, check: (v: number) => boolean): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (!Number.isFinite(v) || !check(v)) throw new Error(`${flag}: invalid value "${value}"`);
  return v;
}

/**
 * `mmrl eval … --extrapolate-base <dir>` (Δlog p test-time extrapolation, METHODS.md §3.4): also evaluates the
 * policy decoded with logits (1 + a)·ℓRL − a·ℓbase over the base's top-k tokens wherever ℓRL(o) − ℓbase(o) ≤ τ.
 */
export async function runEval(configPath: string, opts: EvalOptions): Promise<void> {
  const s = await openSession(configPath, { ...opts, quiet: opts.quiet || opts.json }, ['task', 'policy', 'reward-function']);
  if (opts.prompts !== undefined) {
    const n = Number(opts.prompts);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--prompts must be a positive integer, got "${opts.prompts}"`);
    s.config.eval.prompts = n;
  }
  if (opts.samples !== undefined) {
    const n = Number(opts.samples);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--samples must be a non-negative integer, got "${opts.samples}"`);
    s.config.eval.samples = n;
  }
  const greedy = await evaluateSession(s, 'eval');
  const result: Record<string, unknown> = { ...greedy };
  const table: Record<string, number> = { 'pass@1 (greedy)': greedy.accuracy };
  if (s.config.eval.samples > 0) {
    const task = s.container.resolve(TASK);
    const prompts = task.prompts('test', s.config.eval.prompts, deriveSeed(s.config.eval.seed, 'eval'));
    const ks = s.config.eval.passK.filter((k) => k <= s.config.eval.samples);
    const sampled = await evaluatePassAtK(s.container.resolve(POLICY), s.container.resolve(REWARD_FUNCTION), prompts, s.config.trainer.maxResponseTokens, {
      samples: s.config.eval.samples,
      ks,
      temperature: s.config.eval.temperature,
      topP: 1,
      seed: deriveSeed(s.config.eval.seed, 'pass-at-k'),
    });
    Object.assign(result, sampled);
    for (const [k, v] of Object.entries(sampled.passAtK)) table[`${k} (T=${s.config.eval.temperature}, n=${sampled.samples})`] = v;
  }
  if (opts.extrapolateBase !== undefined) {
    const policy = s.container.resolve(POLICY);
    if (!(policy instanceof VlmPolicy)) throw new Error('--extrapolate-base needs the vlm policy');
    const options = {
      alpha: numberOption(opts.extrapolateAlpha, '--extrapolate-alpha', 0.05, (v) => v >= 0),
      tau: numberOption(opts.extrapolateTau, '--extrapolate-tau', -0.3, () => true),
      topK: numberOption(opts.extrapolateTopK, '--extrapolate-top-k', 50, (v) => Number.isInteger(v) && v >= 1),
    };
    const base = await loadExpertPolicy(resolve(opts.extrapolateBase), policy.tokenizer.vocab);
    const wrapped = new ExtrapolatedVlmPolicy(policy, base, options);
    try {
      const task = s.container.resolve(TASK);
      const prompts = task.prompts('test', s.config.eval.prompts, deriveSeed(s.config.eval.seed, 'eval'));
      const ex = await evaluatePolicy(wrapped, task, s.container.resolve(REWARD_FUNCTION), prompts, s.config.trainer.maxResponseTokens);
      result['extrapolated'] = { ...ex, ...options, base: resolve(opts.extrapolateBase), extrapolatedFraction: wrapped.lastExtrapolatedFraction };
      table[`pass@1 extrapolated (a=${options.alpha}, τ=${options.tau})`] = ex.accuracy;
    } finally {
      wrapped.dispose();
    }
  }
  Object.assign(table, { format: greedy.format, 'blind baseline': greedy.blindBaseline, prompts: greedy.prompts });
  await writeJsonAtomic(join(s.runDir, 'eval.json'), result);
  if (opts.json) console.log(JSON.stringify(result));
  else console.table(table);
}
