import { join, resolve } from 'node:path';
import { defaultWasmThreads } from '@mmrl/core';
import { expandAblation } from '../ablation/expand.js';
import { armTable } from '../ablation/format.js';
import { buildReport, writeReports } from '../ablation/report.js';
import { executeRuns, isFinished, runDirectory, type CliEntry } from '../ablation/runner.js';
import { indexReusableRuns, reuseRun } from '../ablation/reuse.js';
import { loadAblationSpec } from '../ablation/spec.js';
import { AblationProgress } from '../progress.js';
import type { PluginOptions } from '../registry.js';

/** Options of `mmrl ablate`. */
export interface AblateOptions extends PluginOptions {
  /** Runs at once (default 1). */
  jobs?: string;
  /** Parent of the ablation directory (default `runs`). */
  out?: string;
  /** false with `--no-resume`: run every run anew, finished or not. */
  resume?: boolean;
  /** Expand and validate only; list the runs and whether each has finished. */
  dryRun?: boolean;
  /** Directories of earlier ablations whose finished runs with the same config hash are copied instead of re-run. */
  reuse?: string[];
}

/** The command that started this process, to start `mmrl train` the same way (built bin, or from source via tsx). */
function currentCli(): CliEntry {
  const entry = process.argv[1];
  if (!entry) throw new Error('mmrl ablate: cannot tell how this CLI was started (process.argv[1] is empty)');
  return { command: process.execPath, args: [...process.execArgv, entry] };
}

/**
 * `mmrl ablate <spec> [--jobs N] [--out DIR] [--no-resume] [--reuse DIR…] [--dry-run]`: expands the spec (arms =
 * the cartesian product of the factors' levels, × seeds), validates every run config, runs the unfinished runs as
 * `mmrl train` processes, `--jobs` at a time, in `<out>/<name>/runs/<arm>-seed<k>-<hash>/`, then writes report.md,
 * report.json and report.html into `<out>/<name>/`. Finished runs are skipped; with `--reuse`, a run whose config hash
 * (the whole validated config, seed included) matches a finished run of another ablation is copied from it instead
 * of trained again (runs are deterministic on one backend, whatever its thread count). Runs whose config leaves
 * `runtime.threads` at `auto` share the cores: each gets `⌊cores / jobs⌋` wasm threads. A failed run does not stop the others, and sets exit
 * code 1 at the end (after the report).
 */
export async function runAblate(specPath: string, opts: AblateOptions): Promise<void> {
  const jobs = Number(opts.jobs ?? '1');
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs must be a positive integer, got "${opts.jobs}"`);
  const spec = await loadAblationSpec(specPath);
  const plan = await expandAblation(spec, opts);
  const ablationDir = resolve(opts.out ?? 'runs', spec.name);
  const runsDir = join(ablationDir, 'runs');
  console.log(
    `mmrl ablate: ${spec.name}: ${plan.arms.length} arms × ${spec.seeds.length} seeds = ${plan.runs.length} runs ` +
      `(baseline ${spec.baseline}) in ${ablationDir}`,
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
  const results = await executeRuns(plan.runs, runsDir, {
    jobs,
    resume: opts.resume !== false,
    cli: currentCli(),
    extraArgs: (opts.plugin ?? []).flatMap((p) => ['--plugin', p]),
    threadsPerRun: Math.max(1, Math.floor(defaultWasmThreads() / jobs)),
    progress: new AblationProgress(),
    reuse: async (run, dir) => {
      const source = reusable.get(run.hash);
      if (!source) return undefined;
      return { from: source.dir, wallSeconds: await reuseRun(run, source, dir) };
    },
  });
  const report = await buildReport(plan, results, ablationDir);
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
