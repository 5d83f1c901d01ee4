import { join } from 'node:path';
import { writeJsonAtomic } from '@mmrl/core';
import { evaluateSession, openSession, type CommonOptions } from '../session.js';

/** `mmrl eval <config> --checkpoint <dir>`: held-out greedy pass@1 on test images, as a table or JSON. */
export async function runEval(configPath: string, opts: CommonOptions & { json?: boolean }): Promise<void> {
  const s = await openSession(configPath, { ...opts, quiet: opts.quiet || opts.json }, ['task', 'policy', 'reward-function']);
  const result = await evaluateSession(s, 'eval');
  await writeJsonAtomic(join(s.runDir, 'eval.json'), result);
  if (opts.json) console.log(JSON.stringify(result));
  else console.table({ 'pass@1 (greedy)': result.accuracy, format: result.format, 'blind baseline': result.blindBaseline, prompts: result.prompts });
}
