import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '@mmrl/core';
import type { AblationProgress } from '../progress.js';
import type { PlannedRun } from './expand.js';

/** Files of a run directory written by the ablation runner (the run's `mmrl train` writes the others). */
export const RUN_FILES = {
  /** The resolved config the run's `mmrl train` reads. */
  config: 'run-config.json',
  /** The runner's record of the run: arm, levels, seed, hash, command, status, wall time ({@link RunRecord}). */
  record: 'run.json',
  /** Everything the run's process printed (stdout and stderr). */
  log: 'train.log',
  /** Only after a failure: exit status, command and the tail of stderr. */
  error: 'error.log',
  /** Written by `mmrl train` when it has finished: its presence marks a finished run. */
  summary: 'summary.json',
  /** Written by `mmrl train`: one JSON row per RL step and evaluation. */
  metrics: 'metrics.jsonl',
  /** A run from a results archive (`mmrl archive`): metrics.jsonl gzip-compressed, in its place. */
  archivedMetrics: 'metrics.jsonl.gz',
} as const;

/** A run directory's metrics file: metrics.jsonl, else the archived metrics.jsonl.gz; undefined when neither exists. */
export function runMetricsFile(runDir: string): string | undefined {
  return [RUN_FILES.metrics, RUN_FILES.archivedMetrics].map((f) => join(runDir, f)).find((f) => existsSync(f));
}

/** Lines of stderr kept for error.log. */
export const STDERR_TAIL_LINES = 60;

/** The runner's record of one run (`run.json`). */
export interface RunRecord {
  arm: string;
  levels: Record<string, string>;
  seed: number;
  hash: string;
  /** `submitted`: queued as a Slurm job that has not been seen running yet (`--executor slurm`). */
  status: 'submitted' | 'running' | 'completed' | 'failed';
  /** The command line of the run's process. */
  command: string[];
  /** Which executor ran it (absent: local, as before executors existed). */
  executor?: 'local' | 'slurm';
  /** Local executor: the host and process id of the run's `mmrl train` (for `mmrl ablate --status`). */
  host?: string;
  pid?: number;
  /** Slurm executor: the run's job. */
  slurm?: SlurmJobRecord;
  /** Whether the process continued an interrupted run from its training checkpoint (`mmrl train --resume`). */
  resumed: boolean;
  startedAt: string;
  finishedAt?: string;
  /** Wall-clock seconds of the run's process. */
  wallSeconds?: number;
  exitCode?: number | null;
  signal?: string | null;
}

/** The Slurm job of a run (run.json `slurm`). */
export interface SlurmJobRecord {
  /** `<array job id>_<task>` for an element of an array job, else the job id: what squeue, scancel and sacct take. */
  jobId: string;
  /** The array job's id and this run's index in it (array submission only). */
  arrayJobId?: string;
  arrayTaskId?: number;
  /** The script given to sbatch, and the run's own job script (which the array script runs). */
  submitScript: string;
  jobScript: string;
  submittedAt: string;
  /** The last state seen (squeue, then sacct or scontrol at the end), e.g. RUNNING, COMPLETED, CANCELLED. */
  state?: string;
  /** Slurm's `<exit code>:<signal>` of the job's batch script, when known. */
  exitCode?: string;
  /** Where the final state came from: `sacct`, `scontrol`, `squeue` or `job script` (its exit record). */
  stateSource?: string;
}

/** How one run of this invocation ended. */
export interface RunResult {
  run: PlannedRun;
  /** The run directory. */
  dir: string;
  /**
   * `skipped`: already finished by an earlier invocation (summary.json present), or, with `reusedFrom`, copied from
   * an earlier ablation's finished run with the same config hash (`--reuse`).
   */
  status: 'completed' | 'failed' | 'skipped';
  /** The run directory a reused run was copied from. */
  reusedFrom?: string;
  /** Wall-clock seconds of the run's process (from run.json for a skipped run, when recorded). */
  wallSeconds: number | null;
  /** For a failed run: a one-line reason; the details are in error.log. */
  error?: string;
}

/** How to start the `mmrl` CLI in a child process: `command ...args train <config> …`. */
export interface CliEntry {
  command: string;
  args: string[];
}

export interface RunnerOptions {
  /** Runs at once. */
  jobs: number;
  /** Skip finished runs and continue interrupted ones (default behaviour); false: run everything anew. */
  resume: boolean;
  cli: CliEntry;
  /** Extra arguments for every run's `mmrl train` (e.g. `--plugin x`). */
  extraArgs: string[];
  /**
   * wasm threads of each run whose config leaves `runtime.threads` at `auto` (passed as `--threads`), so that `jobs`
   * runs share the cores instead of each taking all of them. Results do not depend on it.
   */
  threadsPerRun?: number;
  progress: AblationProgress;
  /**
   * Takes over a finished run with the same config hash from an earlier ablation (`--reuse`), copying it into `dir`.
   * @returns where it came from and its recorded wall time, or undefined when there is none to reuse.
   */
  reuse?: (run: PlannedRun, dir: string) => Promise<{ from: string; wallSeconds: number | null } | undefined>;
}

/** The directory of a run. */
export function runDirectory(runsDir: string, run: PlannedRun): string {
  return join(runsDir, run.dirName);
}

/** Whether a run directory holds a finished run: a summary.json that parses and has the after-RL evaluation. */
export async function isFinished(dir: string): Promise<boolean> {
  try {
    const summary = JSON.parse(await readFile(join(dir, RUN_FILES.summary), 'utf8')) as { afterRl?: unknown };
    return summary.afterRl !== undefined;
  } catch {
    return false;
  }
}

/** Reads a run's run.json, or undefined. */
export async function readRunRecord(dir: string): Promise<RunRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, RUN_FILES.record), 'utf8')) as RunRecord;
  } catch {
    return undefined;
  }
}

/** `RL step 3/50 | …` and `SFT step …` lines that `mmrl train` prints on a non-terminal stderr. */
export const PROGRESS_LINE = /^(SFT|RL) step (\d+)\/(\d+)/;

/**
 * Runs every planned run that is not finished yet, `jobs` at a time, each as its own `mmrl train` process in its
 * run directory. A run whose directory holds a training checkpoint but no summary.json (an interrupted run)
 * continues from that checkpoint. A failing run gets error.log and does not stop the others. SIGINT/SIGTERM stop
 * the launching of new runs, pass the signal to the running ones and end with an error once they have exited.
 */
export async function executeRuns(runs: readonly PlannedRun[], runsDir: string, options: RunnerOptions): Promise<RunResult[]> {
  const results: RunResult[] = new Array(runs.length);
  const queue = runs.map((run, index) => ({ run, index }));
  const children = new Set<ChildProcess>();
  let interrupted: NodeJS.Signals | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
    for (const child of children) child.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  options.progress.start(runs.length);
  const worker = async () => {
    for (let next = queue.shift(); next && !interrupted; next = queue.shift()) {
      results[next.index] = await executeRun(next.run, runDirectory(runsDir, next.run), options, children);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, runs.length)) }, worker));
  } finally {
    options.progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (interrupted) {
    throw new Error(
      `interrupted (${interrupted}): ${results.filter((r) => r && r.status !== 'failed').length} of ${runs.length} runs finished; ` +
        'run the same command again to continue (finished runs are skipped, interrupted ones resume from their checkpoint)',
    );
  }
  return results;
}

/**
 * What every executor does first for a run: with `resume` false, remove its directory; a finished run is skipped,
 * and one that `reuse` can take over is copied.
 * @returns the run's result when it needs no process, else undefined.
 */
export async function settleWithoutRunning(
  run: PlannedRun,
  dir: string,
  options: Pick<RunnerOptions, 'resume' | 'reuse' | 'progress'>,
): Promise<RunResult | undefined> {
  const { progress } = options;
  if (!options.resume) await rm(dir, { recursive: true, force: true });
  if (await isFinished(dir)) {
    const record = await readRunRecord(dir);
    progress.skipped(run.dirName);
    return { run, dir, status: 'skipped', wallSeconds: record?.wallSeconds ?? null };
  }
  const reused = await options.reuse?.(run, dir);
  if (reused) {
    progress.reused(run.dirName, reused.from);
    return { run, dir, status: 'skipped', wallSeconds: reused.wallSeconds, reusedFrom: reused.from };
  }
  return undefined;
}

/** Creates the run directory, removes an old error.log and writes run-config.json; returns that file's path. */
export async function writeRunConfig(run: PlannedRun, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await rm(join(dir, RUN_FILES.error), { force: true });
  const configFile = join(dir, RUN_FILES.config);
  await writeJsonAtomic(configFile, run.config);
  return configFile;
}

/** Whether a run directory holds a training checkpoint to continue from (`mmrl train --resume`). */
export function hasTrainingCheckpoint(dir: string): boolean {
  return existsSync(join(dir, 'checkpoint', 'state.json'));
}

/** Whether the run's config leaves `runtime.threads` at `auto` (so the executor may choose the thread count). */
export function leavesThreadsAuto(run: PlannedRun): boolean {
  const threads = run.config.runtime?.threads;
  return threads === undefined || threads === 'auto';
}

/**
 * The `mmrl train` arguments of a run, the same for every executor: `train <run-config.json> --resume <dir>` when it
 * continues from its checkpoint, else `train <run-config.json> --out <runs dir> --name <dir name>`; then `extraArgs`.
 */
export function trainArguments(run: PlannedRun, dir: string, configFile: string, resumed: boolean, extraArgs: readonly string[]): string[] {
  return resumed
    ? ['train', configFile, '--resume', dir, ...extraArgs]
    : ['train', configFile, '--out', join(dir, '..'), '--name', run.dirName, ...extraArgs];
}

/** The one-line reason of a failure from the tail of a run's output: its `mmrl: …` line, else its last plain line. */
export function failureLine(tail: readonly string[]): string | undefined {
  return (
    [...tail].reverse().find((l) => l.startsWith('mmrl: ')) ??
    [...tail].reverse().find((l) => l.trim().length > 0 && !PROGRESS_LINE.test(l) && !l.startsWith('(set MMRL_DEBUG'))
  );
}

/** One run: skip when finished, else run `mmrl train` in its directory and record the outcome. */
async function executeRun(run: PlannedRun, dir: string, options: RunnerOptions, children: Set<ChildProcess>): Promise<RunResult> {
  const { progress } = options;
  const settled = await settleWithoutRunning(run, dir, options);
  if (settled) return settled;
  const configFile = await writeRunConfig(run, dir);
  const resumed = hasTrainingCheckpoint(dir);
  const extraArgs =
    options.threadsPerRun !== undefined && leavesThreadsAuto(run)
      ? [...options.extraArgs, '--threads', String(options.threadsPerRun)]
      : options.extraArgs;
  const command = [options.cli.command, ...options.cli.args, ...trainArguments(run, dir, configFile, resumed, extraArgs)];
  const record: RunRecord = {
    arm: run.arm,
    levels: run.levels,
    seed: run.seed,
    hash: run.hash,
    status: 'running',
    command,
    resumed,
    startedAt: new Date().toISOString(),
    executor: 'local',
    host: hostname(),
  };
  await writeJsonAtomic(join(dir, RUN_FILES.record), record);
  progress.started(run.dirName, run.config.trainer.steps);

  const started = performance.now();
  const log = createWriteStream(join(dir, RUN_FILES.log), { flags: 'a' });
  const tail: string[] = [];
  let exit: { code: number | null; signal: NodeJS.Signals | null; error?: Error };
  // run.json with the child's pid (for `mmrl ablate --status`), written while it runs, finished before the final one.
  let pidWritten: Promise<void> = Promise.resolve();
  try {
    exit = await new Promise((resolveExit) => {
      const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
      children.add(child);
      if (child.pid !== undefined) {
        record.pid = child.pid;
        pidWritten = writeJsonAtomic(join(dir, RUN_FILES.record), { ...record }).catch(() => {});
      }
      child.stdout.pipe(log, { end: false });
      let partial = '';
      child.stderr.on('data', (chunk: Buffer) => {
        log.write(chunk);
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          tail.push(line);
          if (tail.length > STDERR_TAIL_LINES) tail.shift();
          const m = PROGRESS_LINE.exec(line);
          if (m) progress.step(run.dirName, m[1]!, Number(m[2]), Number(m[3]));
        }
      });
      child.on('error', (error) => {
        children.delete(child);
        resolveExit({ code: null, signal: null, error });
      });
      child.on('close', (code, signal) => {
        children.delete(child);
        if (partial) tail.push(partial);
        resolveExit({ code, signal });
      });
    });
  } finally {
    await new Promise<void>((r) => log.end(r));
  }
  await pidWritten;
  const wallSeconds = (performance.now() - started) / 1000;
  const finished = exit.code === 0 && (await isFinished(dir));
  const reason = exit.error
    ? `could not start: ${exit.error.message}`
    : exit.code === 0
      ? `exited 0 without writing ${RUN_FILES.summary}`
      : exit.signal
        ? `killed by ${exit.signal}`
        : `exit code ${exit.code}`;
  Object.assign(record, {
    status: finished ? 'completed' : 'failed',
    finishedAt: new Date().toISOString(),
    wallSeconds,
    exitCode: exit.code,
    signal: exit.signal,
  });
  await writeJsonAtomic(join(dir, RUN_FILES.record), record);
  if (finished) {
    progress.finish(run.dirName, 'completed', `${wallSeconds.toFixed(1)} s`);
    return { run, dir, status: 'completed', wallSeconds };
  }
  // The CLI's own error line (`mmrl: …`) says most; else the last line that is neither progress nor a hint.
  const lastLine = failureLine(tail);
  const error = `${reason}${lastLine ? `: ${lastLine.trim()}` : ''}`;
  await writeFileAtomic(
    join(dir, RUN_FILES.error),
    `run ${run.dirName} failed: ${reason} after ${wallSeconds.toFixed(1)} s\n` +
      `command: ${command.map(shellQuote).join(' ')}\n` +
      `full output: ${join(dir, RUN_FILES.log)}\n` +
      `--- last ${tail.length} lines of stderr ---\n${tail.join('\n')}\n`,
  );
  progress.finish(run.dirName, 'failed', `${error} (see ${join(dir, RUN_FILES.error)})`);
  return { run, dir, status: 'failed', wallSeconds, error };
}

/** Quotes an argument for a POSIX shell (left bare when it needs no quotes). */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
