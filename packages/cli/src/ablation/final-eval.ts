import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@mmrl/core';
import { failureLine, leavesThreadsAuto, RUN_FILES, runMetricsFile, shellQuote, STDERR_TAIL_LINES, type CliEntry, type RunResult } from './runner.js';
import type { FinalEvalSection } from './spec.js';

/**
 * The final evaluation of an ablation's runs (the spec's `finalEval: { prompts: N }`): each finished run's final
 * checkpoint is evaluated by `mmrl eval` on N held-out test prompts, in `<run dir>/final-eval/`. A run's own after-RL
 * evaluation uses its config's `eval.prompts` (300 in the shipped regimes). In the count regime the paired difference
 * of two arms measured on those 300 prompts is off from the same difference on 10,000 prompts by an sd of 2.2 points
 * (31 pairs; docs/ablations.md, "Final evaluation"), as large as the effects the ablations look for. 10,000 prompts
 * take ~15 s per run of the small policy on one wasm thread, and the runs' training is untouched (their config
 * hashes, and so `--reuse`, do not change).
 */

/** The directory of a run's final evaluation (an `mmrl eval` run directory: config.json, metrics.jsonl, eval.json). */
export const FINAL_EVAL_DIR = 'final-eval';

/** What the report takes from a final evaluation (`<run dir>/final-eval/eval.json`). */
export interface FinalEvalResult {
  /** Held-out test prompts evaluated. */
  prompts: number;
  /** Greedy pass@1, a fraction. */
  accuracy: number;
  /** Fraction of responses in the answer format. */
  format: number | null;
  /** Best accuracy from the question alone. */
  blindBaseline: number | null;
}

/** How the final evaluation of one run ended: its result, or why there is none. */
export type FinalEvalOutcome = { result: FinalEvalResult } | { error: string };

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A run's final evaluation on `prompts` test prompts, when one was written; undefined otherwise (or for another N). */
export async function readFinalEval(runDir: string, prompts: number): Promise<FinalEvalResult | undefined> {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(await readFile(join(runDir, FINAL_EVAL_DIR, 'eval.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const accuracy = num(data['accuracy']);
  if (accuracy === null || data['prompts'] !== prompts) return undefined;
  return { prompts, accuracy, format: num(data['format']), blindBaseline: num(data['blindBaseline']) };
}

/** The `mmrl eval` arguments of a run's final evaluation. */
export function finalEvalArguments(runDir: string, prompts: number, extraArgs: readonly string[]): string[] {
  return [
    'eval',
    join(runDir, RUN_FILES.config),
    '--checkpoint',
    join(runDir, 'checkpoint'),
    '--prompts',
    String(prompts),
    '--out',
    runDir,
    '--name',
    FINAL_EVAL_DIR,
    '--quiet',
    ...extraArgs,
  ];
}

export interface FinalEvalOptions {
  cli: CliEntry;
  /** Evaluations at once. */
  jobs: number;
  /** wasm threads of each evaluation whose run config leaves `runtime.threads` at `auto`. */
  threadsPerRun?: number;
  /** Extra arguments for every `mmrl eval` (`--plugin x`). */
  extraArgs: string[];
  /** Called when an evaluation starts, and when it ends (with its outcome). */
  onStart?: (run: RunResult) => void;
  onEnd?: (run: RunResult, outcome: FinalEvalOutcome) => void;
}

/**
 * Evaluates the final checkpoint of every finished run (completed, skipped or reused) on `section.prompts` held-out
 * prompts, `jobs` at a time, each as its own `mmrl eval` process. A run that already holds a final evaluation on as
 * many prompts keeps it. A failed evaluation writes `<run dir>/final-eval/error.log` and does not stop the others.
 * @returns run directory → outcome, for every run that had finished.
 */
export async function runFinalEvaluations(
  results: readonly RunResult[],
  section: FinalEvalSection,
  options: FinalEvalOptions,
): Promise<Map<string, FinalEvalOutcome>> {
  const outcomes = new Map<string, FinalEvalOutcome>();
  const queue = results.filter((r) => r.status !== 'failed');
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const existing = await readFinalEval(next.dir, section.prompts);
      if (existing) {
        outcomes.set(next.dir, { result: existing });
        continue;
      }
      options.onStart?.(next);
      const outcome = await evaluateRun(next, section.prompts, options);
      outcomes.set(next.dir, outcome);
      options.onEnd?.(next, outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, queue.length)) }, worker));
  return outcomes;
}

async function evaluateRun(result: RunResult, prompts: number, options: FinalEvalOptions): Promise<FinalEvalOutcome> {
  const dir = result.dir;
  const outDir = join(dir, FINAL_EVAL_DIR);
  if (!existsSync(join(dir, 'checkpoint'))) {
    // A run taken over from a results archive (`mmrl archive`: metrics.jsonl.gz, no checkpoints) has only the final
    // evaluations that were archived with it.
    const archived = runMetricsFile(dir) === join(dir, RUN_FILES.archivedMetrics);
    return {
      error:
        `no final checkpoint in ${join(dir, 'checkpoint')} to evaluate` +
        (archived ? ` (a run from a results archive keeps no checkpoint; its archive holds no final evaluation on ${prompts} prompts)` : ''),
    };
  }
  await rm(outDir, { recursive: true, force: true });
  const extraArgs =
    options.threadsPerRun !== undefined && leavesThreadsAuto(result.run)
      ? [...options.extraArgs, '--threads', String(options.threadsPerRun)]
      : options.extraArgs;
  const command = [options.cli.command, ...options.cli.args, ...finalEvalArguments(dir, prompts, extraArgs)];
  const tail: string[] = [];
  const exit = await new Promise<{ code: number | null; error?: Error }>((resolveExit) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env: process.env });
    let partial = '';
    child.stderr.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > STDERR_TAIL_LINES) tail.shift();
      }
    });
    child.on('error', (error) => resolveExit({ code: null, error }));
    child.on('close', (code) => {
      if (partial) tail.push(partial);
      resolveExit({ code });
    });
  });
  const evaluated = exit.code === 0 ? await readFinalEval(dir, prompts) : undefined;
  if (evaluated) return { result: evaluated };
  const reason = exit.error ? `could not start: ${exit.error.message}` : exit.code === 0 ? 'exited 0 without writing eval.json' : `exit code ${exit.code}`;
  const lastLine = failureLine(tail);
  await writeFileAtomic(
    join(outDir, 'error.log'),
    `final evaluation of ${dir} failed: ${reason}\ncommand: ${command.map(shellQuote).join(' ')}\n--- last ${tail.length} lines of stderr ---\n${tail.join('\n')}\n`,
  );
  return { error: `final evaluation failed (${reason}${lastLine ? `: ${lastLine.trim()}` : ''}); see ${join(outDir, 'error.log')}` };
}
