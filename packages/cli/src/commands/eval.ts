import { join } from 'node:path';
import { deriveSeed, evaluatePassAtK, writeJsonAtomic, POLICY, REWARD_FUNCTION, TASK } from '@mmrl/core';
import { evaluateSession, openSession, type CommonOptions } from '../session.js';

/**
 * `mmrl eval <config> --checkpoint <dir>`: held-out pass@1 with greedy decoding on test images and, with
 * `--samples n` (or `eval.samples`), the unbiased pass@k for `eval.passK`; printed as a table, or JSON with `--json`.
 */
export async function runEval(configPath: string, opts: CommonOptions & { json?: boolean; samples?: string }): Promise<void> {
  const s = await openSession(configPath, { ...opts, quiet: opts.quiet || opts.json }, ['task', 'policy', 'reward-function']);
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
  Object.assign(table, { format: greedy.format, 'blind baseline': greedy.blindBaseline, prompts: greedy.prompts });
  await writeJsonAtomic(join(s.runDir, 'eval.json'), result);
  if (opts.json) console.log(JSON.stringify(result));
  else console.table(table);
}
