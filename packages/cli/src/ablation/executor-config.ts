import { closest } from '@mmrl/core';

/** Where the runs of an ablation execute. */
export const EXECUTORS = ['local', 'slurm'] as const;
export type ExecutorKind = (typeof EXECUTORS)[number];

/** How pending runs become Slurm jobs: elements of one `sbatch --array` job, or one job per run. */
export const SLURM_SUBMIT_MODES = ['array', 'per-run'] as const;
export type SlurmSubmitMode = (typeof SLURM_SUBMIT_MODES)[number];

/** What to do with the ablation's Slurm jobs on Ctrl-C (SIGINT) or SIGTERM. */
export const INTERRUPT_ACTIONS = ['ask', 'cancel', 'keep'] as const;
export type InterruptAction = (typeof INTERRUPT_ACTIONS)[number];

/** Slurm settings of an ablation (spec `executor:` section, overridden by `--slurm-*` flags). */
export interface SlurmSettings {
  /** `#SBATCH --partition`. */
  partition?: string;
  /** `#SBATCH --time`, in any form sbatch takes (`30`, `1:00:00`, `1-0`). */
  time?: string;
  /** `#SBATCH --cpus-per-task`; also each run's wasm threads when its config leaves `runtime.threads` at auto. */
  cpusPerTask?: number;
  /** `#SBATCH --mem` (`4G`, `500M`). */
  mem?: string;
  /** More `#SBATCH` lines, with or without the `#SBATCH` prefix (`--account=rl`, `--qos=short`). */
  sbatch: string[];
  /** Shell lines the job script runs before `mmrl train` (`module load nodejs/20`). */
  setup: string[];
  submit: SlurmSubmitMode;
  /** Seconds between two squeue polls (default 5). */
  pollSeconds: number;
}

/** The spec's `executor:` section, as parsed (every key optional). */
export interface ExecutorSection {
  kind?: ExecutorKind;
  slurm: Partial<SlurmSettings>;
}

/** The resolved executor of one `mmrl ablate` invocation. */
export type ExecutorChoice = { kind: 'local' } | { kind: 'slurm'; slurm: SlurmSettings };

/** Keys of the spec's `executor:` section. */
export const EXECUTOR_KEYS = ['kind', 'partition', 'time', 'cpusPerTask', 'mem', 'sbatch', 'setup', 'submit', 'pollSeconds'] as const;

export const DEFAULT_POLL_SECONDS = 5;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A value of sbatch's `--time` option: minutes, `m:s`, `h:m:s`, `d-h`, `d-h:m`, `d-h:m:s`, or UNLIMITED. */
const SLURM_TIME = /^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE)$/i;
/** A value of sbatch's `--mem`: a number with an optional K, M, G or T suffix. */
const SLURM_MEM = /^\d+[KMGT]?$/i;

/**
 * Checks the spec's `executor:` section, e.g. `{ kind: slurm, partition: cpu, time: "0:30:00", cpusPerTask: 2 }`.
 * @param add records an issue at a JSON pointer into the spec (the caller adds `file:line:column`).
 * @returns the section, or undefined when absent (issues recorded for every bad key).
 */
export function parseExecutorSection(raw: unknown, add: (pointer: string, message: string) => void): ExecutorSection | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) {
    add('/executor', 'must be a mapping such as { kind: slurm, partition: cpu, time: "0:30:00", cpusPerTask: 2 }');
    return undefined;
  }
  const section: ExecutorSection = { slurm: {} };
  for (const key of Object.keys(raw)) {
    if ((EXECUTOR_KEYS as readonly string[]).includes(key)) continue;
    const hint = closest(key, EXECUTOR_KEYS);
    add(`/executor/${key}`, `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : ''} (allowed: ${EXECUTOR_KEYS.join(', ')})`);
  }
  const check = (key: string, ok: boolean, message: string) => {
    if (raw[key] !== undefined && !ok) add(`/executor/${key}`, message);
    return raw[key] !== undefined && ok;
  };
  const kind = raw['kind'];
  if (check('kind', (EXECUTORS as readonly unknown[]).includes(kind), `must be one of ${EXECUTORS.join(', ')}, got ${JSON.stringify(kind)}`)) {
    section.kind = kind as ExecutorKind;
  }
  const partition = raw['partition'];
  if (check('partition', typeof partition === 'string' && /^[\w.,-]+$/.test(partition), 'must be a partition name (or a comma-separated list)')) {
    section.slurm.partition = partition as string;
  }
  const time = raw['time'];
  const timeText = typeof time === 'number' ? String(time) : time;
  if (check('time', typeof timeText === 'string' && SLURM_TIME.test(timeText), `must be a Slurm time limit such as "30" (minutes), "1:00:00" or "1-0", got ${JSON.stringify(time)}`)) {
    section.slurm.time = timeText as string;
  }
  const cpus = raw['cpusPerTask'];
  if (check('cpusPerTask', typeof cpus === 'number' && Number.isInteger(cpus) && cpus >= 1, `must be a positive integer, got ${JSON.stringify(cpus)}`)) {
    section.slurm.cpusPerTask = cpus as number;
  }
  const mem = raw['mem'];
  const memText = typeof mem === 'number' ? String(mem) : mem;
  if (check('mem', typeof memText === 'string' && SLURM_MEM.test(memText), `must be a Slurm memory size such as "4G" or "500M", got ${JSON.stringify(mem)}`)) {
    section.slurm.mem = memText as string;
  }
  for (const key of ['sbatch', 'setup'] as const) {
    const lines = raw[key];
    if (check(key, Array.isArray(lines) && lines.every((l) => typeof l === 'string' && !l.includes('\n')), 'must be a list of one-line strings')) {
      section.slurm[key] = lines as string[];
    }
  }
  const submit = raw['submit'];
  if (check('submit', (SLURM_SUBMIT_MODES as readonly unknown[]).includes(submit), `must be one of ${SLURM_SUBMIT_MODES.join(', ')}, got ${JSON.stringify(submit)}`)) {
    section.slurm.submit = submit as SlurmSubmitMode;
  }
  const poll = raw['pollSeconds'];
  if (check('pollSeconds', typeof poll === 'number' && Number.isFinite(poll) && poll > 0, `must be a positive number of seconds, got ${JSON.stringify(poll)}`)) {
    section.slurm.pollSeconds = poll as number;
  }
  return section;
}

/** The `--executor` and `--slurm-*` flags of `mmrl ablate` (strings as commander gives them). */
export interface ExecutorFlags {
  executor?: string;
  slurmPartition?: string;
  slurmTime?: string;
  slurmCpusPerTask?: string;
  slurmMem?: string;
  slurmSbatch?: string[];
  slurmSetup?: string[];
  slurmSubmit?: string;
  slurmPoll?: string;
}

/**
 * The executor of this invocation: the flags override the spec's `executor:` section key by key (`--slurm-sbatch`
 * and `--slurm-setup` lines come after the spec's); default local.
 * @throws Error naming the flag whose value is bad (`--executor`, `--slurm-cpus-per-task`, …).
 */
export function resolveExecutor(section: ExecutorSection | undefined, flags: ExecutorFlags): ExecutorChoice {
  const kind = flags.executor ?? section?.kind ?? 'local';
  if (!(EXECUTORS as readonly string[]).includes(kind)) throw new Error(`--executor must be one of ${EXECUTORS.join(', ')}, got "${kind}"`);
  if (kind === 'local') return { kind: 'local' };
  const spec = section?.slurm ?? {};
  const slurm: SlurmSettings = {
    sbatch: [...(spec.sbatch ?? []), ...(flags.slurmSbatch ?? [])],
    setup: [...(spec.setup ?? []), ...(flags.slurmSetup ?? [])],
    submit: spec.submit ?? 'array',
    pollSeconds: spec.pollSeconds ?? DEFAULT_POLL_SECONDS,
  };
  const partition = flags.slurmPartition ?? spec.partition;
  if (partition !== undefined) slurm.partition = partition;
  const time = flags.slurmTime ?? spec.time;
  if (time !== undefined) {
    if (!SLURM_TIME.test(time)) throw new Error(`--slurm-time must be a Slurm time limit such as 30, 1:00:00 or 1-0, got "${time}"`);
    slurm.time = time;
  }
  if (flags.slurmCpusPerTask !== undefined) {
    const n = Number(flags.slurmCpusPerTask);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--slurm-cpus-per-task must be a positive integer, got "${flags.slurmCpusPerTask}"`);
    slurm.cpusPerTask = n;
  } else if (spec.cpusPerTask !== undefined) slurm.cpusPerTask = spec.cpusPerTask;
  const mem = flags.slurmMem ?? spec.mem;
  if (mem !== undefined) {
    if (!SLURM_MEM.test(mem)) throw new Error(`--slurm-mem must be a Slurm memory size such as 4G or 500M, got "${mem}"`);
    slurm.mem = mem;
  }
  if (flags.slurmSubmit !== undefined) {
    if (!(SLURM_SUBMIT_MODES as readonly string[]).includes(flags.slurmSubmit)) {
      throw new Error(`--slurm-submit must be one of ${SLURM_SUBMIT_MODES.join(', ')}, got "${flags.slurmSubmit}"`);
    }
    slurm.submit = flags.slurmSubmit as SlurmSubmitMode;
  }
  if (flags.slurmPoll !== undefined) {
    const s = Number(flags.slurmPoll);
    if (!Number.isFinite(s) || s <= 0) throw new Error(`--slurm-poll must be a positive number of seconds, got "${flags.slurmPoll}"`);
    slurm.pollSeconds = s;
  }
  for (const line of slurm.sbatch) {
    if (line.includes('\n')) throw new Error(`--slurm-sbatch takes one line per flag, got ${JSON.stringify(line)}`);
  }
  return { kind: 'slurm', slurm };
}
