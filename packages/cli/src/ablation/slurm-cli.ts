import { execFile } from 'node:child_process';

/** Seconds any one Slurm command may take before it counts as failed. */
const COMMAND_TIMEOUT_MS = 60_000;

/** Job states after which a job runs no more (squeue `%T`, sacct `State`, scontrol `JobState`). */
export const TERMINAL_STATES = new Set([
  'BOOT_FAIL',
  'CANCELLED',
  'COMPLETED',
  'DEADLINE',
  'FAILED',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
  'REVOKED',
  'SPECIAL_EXIT',
  'TIMEOUT',
]);

/** A Slurm command that could not run or exited non-zero: names the command and gives its stderr. */
export class SlurmCommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    readonly exitCode: number | string | null,
  ) {
    super(`${command} failed${exitCode !== null ? ` (exit ${exitCode})` : ''}: ${stderr.trim() || 'no output'}`);
    this.name = 'SlurmCommandError';
  }
}

/** Runs a Slurm client command; resolves with its stdout. @throws SlurmCommandError (not found, non-zero exit, timeout). */
function slurm(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: COMMAND_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (!error) return resolve(stdout);
      const code = (error as NodeJS.ErrnoException).code;
      const shown = `${command} ${args.join(' ')}`;
      if (code === 'ENOENT') {
        reject(new SlurmCommandError(shown, `${command} not found on PATH: install Slurm's client commands (Debian: slurm-client) or run where they are`, null));
      } else {
        reject(new SlurmCommandError(shown, stderr || error.message, typeof code === 'number' || typeof code === 'string' ? code : null));
      }
    });
  });
}

/**
 * Submits a batch script (`sbatch --parsable <script>`; its `#SBATCH` lines hold the options).
 * @returns the job id (for an array job, the array's id: its elements are `<id>_<index>`).
 * @throws SlurmCommandError when sbatch refuses the script or is not installed.
 */
export async function submitBatchScript(script: string): Promise<string> {
  const out = (await slurm('sbatch', ['--parsable', script])).trim();
  // --parsable: "<job id>" or "<job id>;<cluster>".
  const id = out.split(/\s+/).pop()?.split(';')[0] ?? '';
  if (!/^\d+$/.test(id)) throw new SlurmCommandError(`sbatch --parsable ${script}`, `unexpected output "${out}" (expected a job id)`, 0);
  return id;
}

/** One job as squeue lists it. */
export interface QueuedJob {
  /** `%T`: PENDING, RUNNING, COMPLETING, COMPLETED, CANCELLED, … */
  state: string;
  /** `%r`: why a job waits or how it ended (None, Priority, Resources, NonZeroExitCode, …). */
  reason: string;
}

/**
 * This user's jobs that slurmctld still knows, finished ones included for `MinJobAge` seconds (`squeue -h -r -t all
 * --me`), one line per array element.
 * @returns job id (`<array id>_<index>` for array elements) → state and reason.
 * @throws SlurmCommandError when squeue fails (slurmctld unreachable).
 */
export async function listQueue(): Promise<Map<string, QueuedJob>> {
  const out = await slurm('squeue', ['-h', '-r', '-t', 'all', '--me', '-o', '%i|%T|%r']);
  const jobs = new Map<string, QueuedJob>();
  for (const line of out.split('\n')) {
    const [id, state, reason] = line.trim().split('|');
    if (id && state) jobs.set(id, { state, reason: reason ?? '' });
  }
  return jobs;
}

/** How a finished job ended. */
export interface FinalJobState {
  /** Slurm's state (CANCELLED, FAILED, TIMEOUT, COMPLETED, OUT_OF_MEMORY, …). */
  state: string;
  /** `<exit code>:<signal>` of the batch script, when known. */
  exitCode?: string;
  /** Which command told: sacct (accounting database) or scontrol (slurmctld's memory, for MinJobAge seconds). */
  source: 'sacct' | 'scontrol';
}

/**
 * The final state and exit code of a job: from sacct when the cluster keeps accounting, else from `scontrol show
 * job` while slurmctld still holds the job.
 * @returns undefined when neither knows the job (no accounting, and purged after MinJobAge).
 */
export async function finalJobState(jobId: string): Promise<FinalJobState | undefined> {
  try {
    const out = await slurm('sacct', ['-n', '-P', '-X', '-j', jobId, '-o', 'JobID,State,ExitCode']);
    for (const line of out.split('\n')) {
      const [id, state, exitCode] = line.trim().split('|');
      // "CANCELLED by 0" → CANCELLED.
      if (id === jobId && state) return { state: state.split(' ')[0]!, ...(exitCode ? { exitCode } : {}), source: 'sacct' };
    }
  } catch {
    /* accounting storage disabled, or sacct missing: ask slurmctld */
  }
  try {
    const out = await slurm('scontrol', ['-o', 'show', 'job', jobId]);
    const state = /\bJobState=(\S+)/.exec(out)?.[1];
    const exitCode = /\bExitCode=(\d+:\d+)/.exec(out)?.[1];
    if (state) return { state, ...(exitCode ? { exitCode } : {}), source: 'scontrol' };
  } catch {
    /* purged, or slurmctld unreachable */
  }
  return undefined;
}

/**
 * Cancels jobs (`scancel <ids…>`): Slurm sends SIGTERM to their processes, then SIGKILL after KillWait seconds.
 * @throws SlurmCommandError when scancel fails.
 */
export async function cancelJobs(jobIds: readonly string[]): Promise<void> {
  if (jobIds.length > 0) await slurm('scancel', [...jobIds]);
}
