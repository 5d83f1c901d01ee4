import { join, resolve } from 'node:path';
import { defaultWasmThreads } from '@mmrl/core';
import { expandAblation } from '../ablation/expand.js';
import { armTable } from '../ablation/format.js';
import { runFinalEvaluations } from '../ablation/final-eval.js';
import { buildReport, writeReports } from '../ablation/report.js';
import { executeRuns, isFinished, runDirectory, type CliEntry } from '../ablation/runner.js';
import { indexReusableRuns, reuseRun } from '../ablation/reuse.js';
import { loadAblationSpec } from '../ablation/spec.js';
import { INTERRUPT_ACTIONS, resolveExecutor, type ExecutorFlags, type InterruptAction } from '../ablation/executor-config.js';
import { executeRunsOnSlurm } from '../ablation/executor-slurm.js';
import { ablationStatus } from '../ablation/status.js';
import { AblationProgress } from '../progress.js';
import type { PluginOptions } from '../registry.js';

/** Options of `mmrl ablate`. */
export interface AblateOptions extends PluginOptions, ExecutorFlags {
  /** Runs at once (default 1; with the Slurm executor: array elements at once, default no limit). */
  jobs?: string;
  /** Parent of the ablation directory (default `runs`). */
  out?: string;
  /** false with `--no-resume`: run every run anew, finished or not. */
  resume?: boolean;
  /** Expand and validate only; list the runs and whether each has finished. */
  dryRun?: boolean;
  /** Directories of earlier ablations whose finished runs with the same config hash are copied instead of re-run. */
  reuse?: string[];
  /** Every run also writes TensorBoard event files (`mmrl train --tensorboard`). */
  tensorboard?: boolean;
  /** `--status <dir>`: report the state of an ablation directory's runs; submit and run nothing. */
  status?: string;
  /** Slurm executor, on Ctrl-C: ask (default), cancel or keep the ablation's jobs. */
  onInterrupt?: string;
}

/** `mmrl ablate --status <dir>`: one line per run directory, and the counts. */
async function printStatus(dir: string): Promise<void> {
  const { runsDir, runs, queueError } = await ablationStatus(dir);
  const count = (state: string) => runs.filter((r) => r.state === state).length;
  console.log(
    `mmrl ablate --status: ${runsDir}: ${runs.length} runs: ${count('finished')} finished, ${count('running')} running, ` +
      `${count('pending')} pending, ${count('failed')} failed, ${count('stopped')} stopped`,
  );
  if (queueError) console.log(`  (squeue failed, Slurm states are the last ones recorded: ${queueError})`);
  for (const r of runs) console.log(`  ${r.state.padEnd(8)}  ${r.name}${r.detail ? `  (${r.detail})` : ''}`);
}

/** The command that started this process, to start `mmrl train` the same way (built bin, or from source via tsx). */
function currentCli(): CliEntry {
  const entry = process.argv[1];
  if (!entry) throw new Error('mmrl ablate: cannot tell how this CLI was started (process.argv[1] is empty)');
  return { command: process.execPath, args: [...process.execArgv, entry] };
}

/**
 * `mmrl ablate <spec> [--jobs N] [--out DIR] [--no-resume] [--reuse DIR…] [--dry-run] [--executor local|slurm]
 * [--slurm-…] [--tensorboard]`, or `mmrl ablate --status <dir>`: expands the spec (arms =
 * the cartesian product of the factors' levels, × seeds), validates every run config, runs the unfinished runs as
 * `mmrl train` processes, `--jobs` at a time, in `<out>/<name>/runs/<arm>-seed<k>-<hash>/`, then writes report.md,
 * report.json and report.html into `<out>/<name>/`. Finished runs are skipped; with `--reuse`, a run whose config hash
 * (the whole validated config, seed included) matches a finished run of another ablation is copied from it instead
 * of trained again (runs are deterministic on one backend, whatever its thread count). Runs whose config leaves
 * `runtime.threads` at `auto` share the cores: each gets `⌊cores / jobs⌋` wasm threads. A failed run does not stop the others, and sets exit
 * code 1 at the end (after the report). With `--executor slurm` (or the spec's `executor: { kind: slurm }`) the
 * unfinished runs are Slurm jobs instead (see executor-slurm.ts), the same `mmrl train` commands in the same run
 * directories, so the report is the same. With the spec's `finalEval: { prompts: N }`, every finished run's final
 * checkpoint is then evaluated on N held-out test prompts (`mmrl eval`, `--jobs` at a time, locally, in
 * `<run dir>/final-eval/`, kept for the next invocation) and the report compares the arms on that evaluation.
 * @throws Error naming the flag (`--jobs`, `--executor`, `--slurm-*`, `--on-interrupt`, `--status`) whose value is bad.
 */
export async function runAblate(specPath: string | undefined, opts: AblateOptions): Promise<void> {
  if (opts.status !== undefined) {
    if (specPath !== undefined) throw new Error(`--status takes an ablation directory and no spec (got the spec "${specPath}" too)`);
    return printStatus(opts.status);
  }
  if (specPath === undefined) throw new Error("missing the ablation spec: mmrl ablate <spec> (or mmrl ablate --status <dir>)");
  const jobs = Number(opts.jobs ?? '1');
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs must be a positive integer, got "${opts.jobs}"`);
  const onInterrupt = (opts.onInterrupt ?? 'ask') as InterruptAction;
  if (!INTERRUPT_ACTIONS.includes(onInterrupt)) {
    throw new Error(`--on-interrupt must be one of ${INTERRUPT_ACTIONS.join(', ')}, got "${opts.onInterrupt}"`);
  }
  const spec = await loadAblationSpec(specPath);
  const executor = resolveExecutor(spec.executor, opts);
  const plan = await expandAblation(spec, opts);
  const ablationDir = resolve(opts.out ?? 'runs', spec.name);
  const runsDir = join(ablationDir, 'runs');
  console.log(
    `mmrl ablate: ${spec.name}: ${plan.arms.length} arms × ${spec.seeds.length} seeds = ${plan.runs.length} runs ` +
      `(baseline ${spec.baseline}) in ${ablationDir}${executor.kind === 'slurm' ? ', on Slurm' : ''}`,
  );
  const reusable = await indexReusableRuns((opts.reuse ?? []).filter((d) => resolve(d) !== ablationDir && resolve(d) !== runsDir));
  if (opts.dryRun) {
    for (const run of plan.runs) {
      const finished = opts.resume !== false && (await isFinished(runDirectory(runsDir, run)));
      const source = reusable.get(run.hash);
      console.log(`  ${finished ? 'finished' : source ? 'reusable' : 'to run  '}  ${run.dirName}${!finished && source ? ` ← ${source.dir}` : ''}`);
    }
    return;
  }
  const common = {
    resume: opts.resume !== false,
    cli: currentCli(),
    extraArgs: [...(opts.plugin ?? []).flatMap((p) => ['--plugin', p]), ...(opts.tensorboard ? ['--tensorboard'] : [])],
    progress: new AblationProgress(),
    reuse: async (run: (typeof plan.runs)[number], dir: string) => {
      const source = reusable.get(run.hash);
      if (!source) return undefined;
      return { from: source.dir, wallSeconds: await reuseRun(run, source, dir) };
    },
  };
  // wasm threads of each local run or final evaluation, so that `jobs` of them share the cores.
  const threadsPerRun = Math.max(1, Math.floor(defaultWasmThreads() / jobs));
  const results =
    executor.kind === 'slurm'
      ? await executeRunsOnSlurm(plan.runs, runsDir, {
          ...common,
          slurm: executor.slurm,
          ablationName: spec.name,
          ablationDir,
          workDir: process.cwd(),
          onInterrupt,
          ...(opts.jobs !== undefined ? { maxRunning: jobs } : {}),
        })
      : await executeRuns(plan.runs, runsDir, { ...common, jobs, threadsPerRun });
  const finalEvals = spec.finalEval
    ? await runFinalEvaluations(results, spec.finalEval, {
        cli: common.cli,
        jobs,
        threadsPerRun,
        extraArgs: (opts.plugin ?? []).flatMap((p) => ['--plugin', p]),
        onStart: (r) => console.error(`mmrl ablate: final evaluation of ${r.run.dirName} on ${spec.finalEval!.prompts} test prompts`),
        onEnd: (r, outcome) =>
          console.error(
            `mmrl ablate: final evaluation of ${r.run.dirName}: ${'result' in outcome ? `${(100 * outcome.result.accuracy).toFixed(1)}%` : outcome.error}`,
          ),
      })
    : undefined;
  const report = await buildReport(plan, results, ablationDir, finalEvals);
  const files = await writeReports(report, ablationDir);
  const [header, ...rows] = armTable(report);
  console.log(`| ${header!.join(' | ')} |`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log(`reports: ${files.markdown}, ${files.json}, ${files.html}`);
  const failed = report.runs.filter((r) => r.status === 'failed');
  if (failed.length > 0) {
    // Not thrown: the report is written and the reasons are listed; only the exit code is left to set.
    console.error(
      `mmrl: ${failed.length} of ${report.runs.length} runs failed:\n${failed
        .map((r) => `  ${r.dir}: ${r.error ?? 'failed'} (see ${join(ablationDir, r.errorLog ?? '')})`)
        .join('\n')}`,
    );
    process.exitCode = 1;
  }
}
