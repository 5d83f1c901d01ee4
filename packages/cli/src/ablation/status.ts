import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { readJobExit } from './executor-slurm.js';
import { PROGRESS_LINE, RUN_FILES, hasTrainingCheckpoint, isFinished, readRunRecord } from './runner.js';
import { TERMINAL_STATES, listQueue, type QueuedJob } from './slurm-cli.js';

/** The state of one run directory, as `mmrl ablate --status` shows it. */
export interface RunStatus {
  /** The run directory's name (`<arm>-seed<k>-<hash>`). */
  name: string;
  /**
   * `finished`: summary.json written; `running` / `pending`: its Slurm job (or local process) is under way or
   * queued; `failed`: error.log written and nothing under way; `stopped`: neither finished nor under way nor failed
   * (an interrupted run: the next `mmrl ablate` resumes it from its checkpoint when it has one).
   */
  state: 'finished' | 'running' | 'pending' | 'failed' | 'stopped';
  /** What is known besides: the Slurm job and its state, the last progress line, the checkpoint. */
  detail: string;
}

/** The last `RL step k/n` (or SFT) progress line of a run's train.log. */
async function lastProgress(dir: string): Promise<string | undefined> {
  try {
    const text = await readFile(join(dir, RUN_FILES.log), 'utf8');
    const lines = text.split('\n').filter((l) => PROGRESS_LINE.test(l));
    return lines.at(-1)?.match(PROGRESS_LINE)?.[0];
  } catch {
    return undefined;
  }
}

/** Whether a process of this host with this id is alive. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The state of every run of an ablation directory (`<out>/<name>`, or its `runs/`), from the runs' own files and,
 * for runs with a Slurm job, one squeue call. Submits and changes nothing.
 * @throws Error naming the directory when it holds no run directories.
 */
export async function ablationStatus(dir: string): Promise<{ runsDir: string; runs: RunStatus[]; queueError?: string }> {
  const root = resolve(dir);
  const runsDir = existsSync(join(root, 'runs')) ? join(root, 'runs') : root;
  let names: string[];
  try {
    names = (await readdir(runsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (e) {
    throw new Error(`--status ${dir}: cannot read ${runsDir}: ${(e as Error).message}`);
  }
  const records = await Promise.all(names.map((n) => readRunRecord(join(runsDir, n))));
  if (!records.some((r) => r !== undefined)) {
    throw new Error(`--status ${dir}: no run of an ablation in ${runsDir} (no <run>/${RUN_FILES.record}); give the directory mmrl ablate wrote (<out>/<name>)`);
  }
  let queue = new Map<string, QueuedJob>();
  let queueError: string | undefined;
  if (records.some((r) => r?.slurm)) {
    try {
      queue = await listQueue();
    } catch (e) {
      queueError = (e as Error).message;
    }
  }
  const runs: RunStatus[] = [];
  for (const [k, name] of names.entries()) {
    const record = records[k];
    if (!record) continue;
    const runDir = join(runsDir, name);
    const progress = await lastProgress(runDir);
    const checkpoint = hasTrainingCheckpoint(runDir);
    const notes: string[] = [];
    let state: RunStatus['state'];
    if (await isFinished(runDir)) {
      state = 'finished';
      if (record.slurm) notes.push(`Slurm job ${record.slurm.jobId}`);
      if ('reusedFrom' in record) notes.push(`reused from ${String((record as { reusedFrom: unknown }).reusedFrom)}`);
    } else if (record.slurm) {
      const job = queue.get(record.slurm.jobId);
      const exit = await readJobExit(runDir);
      if (job && !TERMINAL_STATES.has(job.state)) {
        state = job.state === 'PENDING' ? 'pending' : 'running';
        notes.push(`Slurm job ${record.slurm.jobId} ${job.state}${job.reason && job.reason !== 'None' ? ` (${job.reason})` : ''}`);
      } else {
        const known = job?.state ?? record.slurm.state;
        const exitCode = record.slurm.exitCode ?? (exit ? `${exit.exitCode}:0` : undefined);
        state = existsSync(join(runDir, RUN_FILES.error)) || job ? 'failed' : 'stopped';
        notes.push(
          `Slurm job ${record.slurm.jobId} ${known ?? (queueError ? 'state unknown (squeue failed)' : 'no longer known to Slurm')}` +
            `${exitCode ? `, exit code ${exitCode}` : ''}`,
        );
      }
    } else if (record.status === 'running' && record.pid !== undefined && record.host === hostname() && alive(record.pid)) {
      state = 'running';
      notes.push(`local process ${record.pid}`);
    } else {
      state = existsSync(join(runDir, RUN_FILES.error)) ? 'failed' : 'stopped';
      if (record.status === 'running' && record.host && record.host !== hostname()) notes.push(`local process on ${record.host}`);
    }
    if (state !== 'finished' && progress) notes.push(progress);
    if (state === 'stopped' || state === 'failed') notes.push(checkpoint ? 'checkpoint kept: the next mmrl ablate resumes it' : 'no checkpoint: the next mmrl ablate starts it anew');
    if (state === 'failed') notes.push(`see ${join(runDir, RUN_FILES.error)}`);
    runs.push({ name, state, detail: notes.join('; ') });
  }
  return { runsDir, runs, ...(queueError ? { queueError } : {}) };
}
