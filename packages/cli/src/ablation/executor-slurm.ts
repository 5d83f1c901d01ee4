import { existsSync } from 'node:fs';
import { chmod, mkdir, open, readFile, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '@mmrl/core';
import type { AblationProgress } from '../progress.js';
import type { InterruptAction, SlurmSettings } from './executor-config.js';
import type { PlannedRun } from './expand.js';
import {
  PROGRESS_LINE,
  RUN_FILES,
  STDERR_TAIL_LINES,
  failureLine,
  hasTrainingCheckpoint,
  isFinished,
  leavesThreadsAuto,
  readRunRecord,
  settleWithoutRunning,
  shellQuote,
  trainArguments,
  writeRunConfig,
  type CliEntry,
  type RunRecord,
  type RunResult,
  type RunnerOptions,
  type SlurmJobRecord,
} from './runner.js';
import { TERMINAL_STATES, cancelJobs, finalJobState, listQueue, submitBatchScript, type QueuedJob } from './slurm-cli.js';

/** Files the Slurm executor adds to a run directory. */
export const SLURM_FILES = {
  /** The run's job script: runs its `mmrl train` and writes {@link SLURM_FILES.exit}. Submittable by hand. */
  jobScript: 'slurm-job.sh',
  /** Written by the job script when `mmrl train` exits: exit code, signal, host, start and end ({@link JobExitRecord}). */
  exit: 'slurm-exit.json',
} as const;

/** Sub-directory of the ablation directory with the array scripts and Slurm's own output files. */
export const SLURM_DIR = 'slurm';

/** What the job script records when its `mmrl train` exits (`slurm-exit.json`). */
export interface JobExitRecord {
  exitCode: number;
  /** TERM or INT when the job script was signalled (scancel, time limit), else null. */
  signal: string | null;
  resumed: boolean;
  jobId: string;
  host: string;
  /** Unix seconds. */
  startedAt: number;
  finishedAt: number;
}

/** Polls of squeue in a row that may fail (slurmctld restarting, network) before the ablation gives up. */
const MAX_QUEUE_FAILURES = 30;
/** Seconds to wait for cancelled jobs to end after scancel. */
const CANCEL_WAIT_SECONDS = 120;

export interface SlurmRunnerOptions extends Pick<RunnerOptions, 'resume' | 'reuse' | 'extraArgs'> {
  cli: CliEntry;
  progress: AblationProgress;
  slurm: SlurmSettings;
  /** The ablation's name (job name `mmrl-<name>`) and directory (array scripts and Slurm output in `slurm/`). */
  ablationName: string;
  ablationDir: string;
  /** The directory the job scripts start `mmrl train` in (that of `mmrl ablate`, as local runs inherit it). */
  workDir: string;
  /** Array submission: at most this many elements run at once (`--array=0-N%max`). */
  maxRunning?: number;
  /** On SIGINT/SIGTERM: ask (on a terminal; elsewhere keep), cancel the ablation's jobs, or keep them running. */
  onInterrupt: InterruptAction;
  /** Asks a yes/no question on the terminal (default: readline on stdin/stderr). */
  confirm?: (question: string) => Promise<boolean>;
}

/** A run whose job this invocation watches. */
interface Tracked {
  index: number;
  run: PlannedRun;
  dir: string;
  record: RunRecord;
  job: SlurmJobRecord;
  /** Seen running (progress bar shown). */
  started: boolean;
  /** Bytes of train.log already scanned for progress lines, and the unfinished last line. */
  logOffset: number;
  partial: string;
}

const sleep = (ms: number, wake: { fn?: () => void }) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    wake.fn = () => {
      clearTimeout(timer);
      resolve();
    };
  });

/** `#SBATCH` lines for the resources of every job (options without the `#SBATCH` prefix get it). */
function resourceLines(settings: SlurmSettings): string[] {
  const lines = ['--export=ALL'];
  if (settings.partition) lines.push(`--partition=${settings.partition}`);
  if (settings.time) lines.push(`--time=${settings.time}`);
  if (settings.cpusPerTask) lines.push(`--cpus-per-task=${settings.cpusPerTask}`);
  if (settings.mem) lines.push(`--mem=${settings.mem}`);
  lines.push(...settings.sbatch.map((l) => l.replace(/^\s*#SBATCH\s+/, '').trim()).filter((l) => l.length > 0));
  return lines.map((l) => `#SBATCH ${l}`);
}

/** The Slurm job name of an ablation's jobs. */
export const jobName = (ablationName: string) => `mmrl-${ablationName}`;

/**
 * The job script of one run: `cd` to the working directory, the setup lines, then the same `mmrl train` command as
 * the local executor (`--resume <dir>` when the run directory holds a training checkpoint at the time the job
 * starts, so a requeued or resubmitted job continues), its output appended to train.log; forwards SIGTERM/SIGINT
 * (scancel, time limit) to `mmrl train`, and writes slurm-exit.json when it exits. With `--threads`: the job's
 * `SLURM_CPUS_PER_TASK` (1 when unset) for a run whose config leaves `runtime.threads` at auto.
 */
export function jobScript(run: PlannedRun, dir: string, configFile: string, options: SlurmRunnerOptions): string {
  const prefix = [options.cli.command, ...options.cli.args];
  const threads = leavesThreadsAuto(run) ? ' --threads "$threads"' : '';
  const command = (resumed: boolean) =>
    [...prefix, ...trainArguments(run, dir, configFile, resumed, options.extraArgs)].map(shellQuote).join(' ') + threads;
  const q = shellQuote;
  return [
    '#!/bin/bash',
    `# Job script of run ${run.dirName} of ablation ${options.ablationName}, written by \`mmrl ablate --executor slurm\`.`,
    `# Submit by hand with: sbatch ${q(join(dir, SLURM_FILES.jobScript))}`,
    `#SBATCH --job-name=${jobName(options.ablationName)}`,
    `#SBATCH --output=${join(options.ablationDir, SLURM_DIR, '%j.out')}`,
    ...resourceLines(options.slurm),
    'set -u',
    `run_dir=${q(dir)}`,
    `cd ${q(options.workDir)} || exit 1`,
    ...options.slurm.setup,
    'threads="${SLURM_CPUS_PER_TASK:-1}"',
    `if [ -f "$run_dir/checkpoint/state.json" ]; then`,
    `  resumed=true; set -- ${command(true)}`,
    'else',
    `  resumed=false; set -- ${command(false)}`,
    'fi',
    `rm -f "$run_dir/${SLURM_FILES.exit}"`,
    'started=$(date +%s.%N)',
    `printf 'mmrl ablate: Slurm job %s on %s: %s\\n' "\${SLURM_JOB_ID:-?}" "$(hostname)" "$*" >> "$run_dir/${RUN_FILES.log}"`,
    `"$@" >> "$run_dir/${RUN_FILES.log}" 2>&1 &`,
    'child=$!',
    'signal=null',
    `trap 'signal="\\"TERM\\""; kill -TERM "$child" 2>/dev/null' TERM`,
    `trap 'signal="\\"INT\\""; kill -INT "$child" 2>/dev/null' INT`,
    'wait "$child"; code=$?',
    '# A trapped signal ends `wait` early: wait again for the real exit status.',
    'while kill -0 "$child" 2>/dev/null; do wait "$child"; code=$?; done',
    'finished=$(date +%s.%N)',
    `job="\${SLURM_ARRAY_JOB_ID:+\${SLURM_ARRAY_JOB_ID}_\${SLURM_ARRAY_TASK_ID}}"; job="\${job:-\${SLURM_JOB_ID:-}}"`,
    `printf '{"exitCode":%d,"signal":%s,"resumed":%s,"jobId":"%s","host":"%s","startedAt":%s,"finishedAt":%s}\\n' \\`,
    `  "$code" "$signal" "$resumed" "$job" "$(hostname)" "$started" "$finished" > "$run_dir/${SLURM_FILES.exit}.tmp" &&`,
    `  mv "$run_dir/${SLURM_FILES.exit}.tmp" "$run_dir/${SLURM_FILES.exit}"`,
    'exit "$code"',
    '',
  ].join('\n');
}

/** The array job script: element k runs the job script of the k-th run. */
function arrayScript(jobScripts: readonly string[], options: SlurmRunnerOptions): string {
  const throttle = options.maxRunning !== undefined ? `%${options.maxRunning}` : '';
  return [
    '#!/bin/bash',
    `# Array job of ablation ${options.ablationName} (${jobScripts.length} runs), written by \`mmrl ablate --executor slurm\`.`,
    `#SBATCH --job-name=${jobName(options.ablationName)}`,
    `#SBATCH --array=0-${jobScripts.length - 1}${throttle}`,
    `#SBATCH --output=${join(options.ablationDir, SLURM_DIR, '%A_%a.out')}`,
    ...resourceLines(options.slurm),
    'scripts=(',
    ...jobScripts.map((s) => `  ${shellQuote(s)}`),
    ')',
    'exec /bin/bash "${scripts[$SLURM_ARRAY_TASK_ID]}"',
    '',
  ].join('\n');
}

/** Reads a run's slurm-exit.json, or undefined. */
export async function readJobExit(dir: string): Promise<JobExitRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, SLURM_FILES.exit), 'utf8')) as JobExitRecord;
  } catch {
    return undefined;
  }
}

/** The last `n` lines of a file (empty when it cannot be read). */
async function lastLines(file: string, n: number): Promise<string[]> {
  try {
    const lines = (await readFile(file, 'utf8')).split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    return lines.slice(-n);
  } catch {
    return [];
  }
}

/** Asks on the terminal; a second Ctrl-C or end of input answers no. */
function askOnTerminal(question: string): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    let done = false;
    const finish = (answer: boolean) => {
      if (done) return;
      done = true;
      rl.close();
      resolve(answer);
    };
    rl.on('SIGINT', () => finish(false));
    rl.on('close', () => finish(false));
    rl.question(question, (a) => finish(/^y(es)?$/i.test(a.trim())));
  });
}

/**
 * Runs every planned run that is not finished as a Slurm job: one `sbatch --array` job for all pending runs
 * (`submit: array`, each element runs one run's job script) or one job per run (`submit: per-run`). A run whose
 * run.json names a job that is still queued or running (from an earlier, interrupted invocation) is watched, not
 * submitted again. Progress comes from squeue and the runs' own train.log (the same bars and lines as local runs);
 * a job that ends without a finished run leaves error.log with its Slurm state and exit code (sacct, else scontrol,
 * else the job script's slurm-exit.json). On SIGINT/SIGTERM it asks (or `onInterrupt` says) whether to scancel the
 * ablation's jobs; finished runs are never touched.
 * @throws SlurmCommandError when sbatch refuses a script or squeue cannot be reached; Error after an interruption
 *   (as the local executor), saying what became of the jobs.
 */
export async function executeRunsOnSlurm(runs: readonly PlannedRun[], runsDir: string, options: SlurmRunnerOptions): Promise<RunResult[]> {
  const { progress } = options;
  const results: RunResult[] = new Array(runs.length);
  const initialQueue = await listQueue();
  const active = (job: QueuedJob | undefined) => job !== undefined && !TERMINAL_STATES.has(job.state);

  // Runs whose job from an earlier invocation still runs: refuse --no-resume, else watch them.
  const tracked: Tracked[] = [];
  const pending: { index: number; run: PlannedRun; dir: string }[] = [];
  const stillQueued: string[] = [];
  for (const [index, run] of runs.entries()) {
    const dir = join(runsDir, run.dirName);
    const record = await readRunRecord(dir);
    if (record?.slurm && active(initialQueue.get(record.slurm.jobId))) {
      if (!options.resume) stillQueued.push(`${run.dirName} (job ${record.slurm.jobId})`);
      else tracked.push({ index, run, dir, record, job: record.slurm, started: false, logOffset: 0, partial: '' });
    }
  }
  if (stillQueued.length > 0) {
    throw new Error(
      `--no-resume: these runs still have Slurm jobs queued or running: ${stillQueued.join(', ')}; ` +
        'wait for them or scancel them first',
    );
  }
  progress.start(runs.length);
  const trackedIndices = new Set(tracked.map((t) => t.index));
  for (const [index, run] of runs.entries()) {
    if (trackedIndices.has(index)) continue;
    const dir = join(runsDir, run.dirName);
    const settled = await settleWithoutRunning(run, dir, options);
    if (settled) results[index] = settled;
    else pending.push({ index, run, dir });
  }
  if (tracked.length > 0) {
    console.error(`ablate: ${tracked.length} runs still have Slurm jobs from an earlier invocation: ${tracked.map((t) => t.job.jobId).join(', ')}`);
  }

  // Submission.
  if (pending.length > 0) {
    await mkdir(join(options.ablationDir, SLURM_DIR), { recursive: true });
    const prepared: { index: number; run: PlannedRun; dir: string; script: string; record: RunRecord }[] = [];
    for (const p of pending) {
      const configFile = await writeRunConfig(p.run, p.dir);
      const script = join(p.dir, SLURM_FILES.jobScript);
      await writeFileAtomic(script, jobScript(p.run, p.dir, configFile, options));
      await chmod(script, 0o755);
      await rm(join(p.dir, SLURM_FILES.exit), { force: true });
      const resumed = hasTrainingCheckpoint(p.dir);
      const threads = leavesThreadsAuto(p.run) ? ['--threads', String(options.slurm.cpusPerTask ?? 1)] : [];
      const command = [options.cli.command, ...options.cli.args, ...trainArguments(p.run, p.dir, configFile, resumed, options.extraArgs), ...threads];
      const record: RunRecord = {
        arm: p.run.arm,
        levels: p.run.levels,
        seed: p.run.seed,
        hash: p.run.hash,
        status: 'submitted',
        command,
        resumed,
        startedAt: new Date().toISOString(),
        executor: 'slurm',
      };
      prepared.push({ ...p, script, record });
    }
    const submittedAt = new Date().toISOString();
    const jobs: SlurmJobRecord[] = [];
    if (options.slurm.submit === 'array') {
      const stamp = submittedAt.replace(/[:.]/g, '-');
      const submitScript = join(options.ablationDir, SLURM_DIR, `array-${stamp}.sh`);
      await writeFileAtomic(submitScript, arrayScript(prepared.map((p) => p.script), options));
      const arrayJobId = await submitBatchScript(submitScript);
      prepared.forEach((p, k) =>
        jobs.push({ jobId: `${arrayJobId}_${k}`, arrayJobId, arrayTaskId: k, submitScript, jobScript: p.script, submittedAt }),
      );
      console.error(`ablate: submitted ${prepared.length} runs as Slurm array job ${arrayJobId} (${submitScript})`);
    } else {
      for (const p of prepared) {
        const jobId = await submitBatchScript(p.script);
        jobs.push({ jobId, submitScript: p.script, jobScript: p.script, submittedAt });
      }
      console.error(`ablate: submitted ${prepared.length} runs as Slurm jobs ${jobs.map((j) => j.jobId).join(', ')}`);
    }
    for (const [k, p] of prepared.entries()) {
      const job = jobs[k]!;
      p.record.slurm = job;
      await writeJsonAtomic(join(p.dir, RUN_FILES.record), p.record);
      tracked.push({ index: p.index, run: p.run, dir: p.dir, record: p.record, job, started: false, logOffset: 0, partial: '' });
    }
  }

  // Watching.
  let interrupted: NodeJS.Signals | null = null;
  const wake: { fn?: () => void } = {};
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
    wake.fn?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const watching = new Map(tracked.map((t) => [t.job.jobId, t]));
  let cancelled = false;
  try {
    let failures = 0;
    while (watching.size > 0 && !interrupted) {
      let queue: Map<string, QueuedJob>;
      try {
        queue = await listQueue();
        failures = 0;
      } catch (e) {
        if (++failures >= MAX_QUEUE_FAILURES) throw e;
        if (failures === 1) console.error(`ablate: warning: ${(e as Error).message}; retrying`);
        await sleep(options.slurm.pollSeconds * 1000, wake);
        continue;
      }
      for (const t of [...watching.values()]) {
        const job = queue.get(t.job.jobId);
        if (job && !TERMINAL_STATES.has(job.state)) {
          await observe(t, job, options);
          continue;
        }
        results[t.index] = await finish(t, job, options);
        watching.delete(t.job.jobId);
      }
      if (watching.size > 0 && !interrupted) await sleep(options.slurm.pollSeconds * 1000, wake);
    }
    if (interrupted && watching.size > 0) {
      progress.stop();
      const ids = [...watching.keys()];
      let action = options.onInterrupt;
      if (action === 'ask') {
        action = process.stdin.isTTY
          ? (await (options.confirm ?? askOnTerminal)(
              `\nCancel the ${ids.length} Slurm jobs of this ablation still queued or running (${ids.join(', ')})? [y/N] `,
            ))
            ? 'cancel'
            : 'keep'
          : 'keep';
      }
      if (action === 'cancel') {
        await cancelJobs(ids);
        cancelled = true;
        // Wait for the jobs to end, so that each leaves its error.log (finished runs are left as they are).
        const deadline = Date.now() + CANCEL_WAIT_SECONDS * 1000;
        while (watching.size > 0 && Date.now() < deadline) {
          const queue = await listQueue().catch(() => new Map<string, QueuedJob>());
          for (const t of [...watching.values()]) {
            const job = queue.get(t.job.jobId);
            if (job && !TERMINAL_STATES.has(job.state)) continue;
            results[t.index] = await finish(t, job, options);
            watching.delete(t.job.jobId);
          }
          if (watching.size > 0) await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (interrupted) {
    const done = results.filter((r) => r && r.status !== 'failed').length;
    const left = [...watching.keys()];
    throw new Error(
      `interrupted (${interrupted}): ${done} of ${runs.length} runs finished; ` +
        (cancelled
          ? `the ablation's other Slurm jobs were cancelled${left.length > 0 ? ` (${left.join(', ')} had not ended yet)` : ''}; ` +
            'run the same command again to submit them anew (interrupted runs resume from their checkpoints)'
          : `its Slurm jobs ${left.join(', ')} keep running: \`mmrl ablate --status ${options.ablationDir}\` shows them, and ` +
            'the same command again waits for them and writes the report'),
    );
  }
  return results;
}

/** A job still queued or running: show it running once it is, and feed its train.log progress lines to the bars. */
async function observe(t: Tracked, job: QueuedJob, options: SlurmRunnerOptions): Promise<void> {
  if (!t.started && (job.state === 'RUNNING' || job.state === 'COMPLETING')) {
    t.started = true;
    options.progress.started(t.run.dirName, t.run.config.trainer.steps);
    Object.assign(t.record, { status: 'running', startedAt: new Date().toISOString() });
    t.record.slurm = { ...t.job, state: job.state };
    await writeJsonAtomic(join(t.dir, RUN_FILES.record), t.record);
  }
  if (t.started) await scanLog(t, options);
}

/** Reads what train.log gained since the last poll and passes its progress lines on. */
async function scanLog(t: Tracked, options: SlurmRunnerOptions): Promise<void> {
  let handle;
  try {
    handle = await open(join(t.dir, RUN_FILES.log), 'r');
  } catch {
    return;
  }
  try {
    const { size } = await handle.stat();
    if (size < t.logOffset) t.logOffset = 0;
    if (size === t.logOffset) return;
    const buffer = Buffer.alloc(size - t.logOffset);
    await handle.read(buffer, 0, buffer.length, t.logOffset);
    t.logOffset = size;
    const lines = (t.partial + buffer.toString('utf8')).split('\n');
    t.partial = lines.pop() ?? '';
    let last: RegExpExecArray | null = null;
    for (const line of lines) last = PROGRESS_LINE.exec(line) ?? last;
    if (last) options.progress.step(t.run.dirName, last[1]!, Number(last[2]), Number(last[3]));
  } finally {
    await handle.close();
  }
}

/** A job that has ended (terminal state, or gone from squeue): record how, and error.log when the run is unfinished. */
async function finish(t: Tracked, job: QueuedJob | undefined, options: SlurmRunnerOptions): Promise<RunResult> {
  const { progress } = options;
  const { run, dir } = t;
  if (!t.started) {
    // Ended between two polls before it was seen running: still one start line (and bar) per run, as locally.
    t.started = true;
    progress.started(run.dirName, run.config.trainer.steps);
  }
  const exit = await readJobExit(dir);
  const finished = await isFinished(dir);
  const final = finished && job ? undefined : await finalJobState(t.job.jobId);
  const state = final?.state ?? job?.state ?? (exit ? (exit.exitCode === 0 ? 'COMPLETED' : 'FAILED') : 'UNKNOWN');
  const stateSource = final?.source ?? (job ? 'squeue' : exit ? 'job script' : 'none');
  const exitCode = final?.exitCode ?? (exit ? `${exit.exitCode}:0` : undefined);
  const wallSeconds = exit ? exit.finishedAt - exit.startedAt : (Date.now() - Date.parse(t.record.startedAt)) / 1000;
  t.record.slurm = { ...t.job, state, ...(exitCode ? { exitCode } : {}), stateSource };
  Object.assign(t.record, {
    status: finished ? 'completed' : 'failed',
    finishedAt: new Date().toISOString(),
    wallSeconds,
    exitCode: exit?.exitCode ?? (exitCode ? Number(exitCode.split(':')[0]) : null),
    signal: exit?.signal ?? null,
    ...(exit ? { resumed: exit.resumed } : {}),
  });
  await writeJsonAtomic(join(dir, RUN_FILES.record), t.record);
  if (finished) {
    progress.finish(run.dirName, 'completed', `${wallSeconds.toFixed(1)} s, Slurm job ${t.job.jobId}`);
    return { run, dir, status: 'completed', wallSeconds };
  }
  const tail = await lastLines(join(dir, RUN_FILES.log), STDERR_TAIL_LINES);
  const reason =
    state === 'COMPLETED' && exit?.exitCode === 0
      ? `Slurm job ${t.job.jobId} exited 0 without writing ${RUN_FILES.summary}`
      : `Slurm job ${t.job.jobId} ${state}${exitCode ? `, exit code ${exitCode}` : ''}`;
  const lastLine = failureLine(tail);
  const error = `${reason}${lastLine ? `: ${lastLine.trim()}` : ''}`;
  const slurmOut = t.job.arrayJobId !== undefined
    ? join(options.ablationDir, SLURM_DIR, `${t.job.arrayJobId}_${t.job.arrayTaskId}.out`)
    : join(options.ablationDir, SLURM_DIR, `${t.job.jobId}.out`);
  await writeFileAtomic(
    join(dir, RUN_FILES.error),
    `run ${run.dirName} failed: ${reason} after ${wallSeconds.toFixed(1)} s\n` +
      `slurm: job ${t.job.jobId}, state ${state} (from ${stateSource}), exit code ${exitCode ?? 'unknown'}` +
      `${exit?.signal ? `, job script signalled with SIG${exit.signal}` : ''}${exit ? ` on ${exit.host}` : ''}\n` +
      `job script: ${t.job.jobScript}${t.job.submitScript !== t.job.jobScript ? ` (array script ${t.job.submitScript})` : ''}\n` +
      `command: ${t.record.command.map(shellQuote).join(' ')}\n` +
      `slurm output: ${existsSync(slurmOut) ? slurmOut : `${slurmOut} (not written)`}\n` +
      `full output: ${join(dir, RUN_FILES.log)}\n` +
      `--- last ${tail.length} lines of ${RUN_FILES.log} ---\n${tail.join('\n')}\n`,
  );
  progress.finish(run.dirName, 'failed', `${error} (see ${join(dir, RUN_FILES.error)})`);
  return { run, dir, status: 'failed', wallSeconds, error };
}
