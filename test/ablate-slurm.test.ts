// `mmrl ablate --executor slurm` (issue 15) against a real one-node Slurm cluster on localhost (munged, slurmctld and
// slurmd started by scripts/slurm/start-local-cluster.sh, stopped after the tests): the report of a 2 × 2 ablation
// equals the local executor's; a job killed with scancel mid-run leaves error.log with its Slurm state and resumes
// from its checkpoint on the next invocation, to the metrics of an uninterrupted local run; Ctrl-C keeps the jobs
// (the next invocation waits for them, submitting nothing) or cancels them (finished runs untouched); --status.
// Without Slurm (not root, or slurm-wlm/munge not installed) the tests skip with the reason; MMRL_REQUIRE_SLURM=1
// (set by .ci/run) makes that a failure.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mmrl, ROOT } from './helpers.js';

const REQUIRED = process.env['MMRL_REQUIRE_SLURM'] === '1';
/** Wall-clock fields: the only ones allowed to differ between two runs of one config. */
const WALL_CLOCK = new Set(['rollout_s', 'prepare_s', 'weighters_s', 'update_s', 'eval_s', 'step_s']);
const REPORT_VOLATILE = new Set(['generatedAt', 'tokensPerSecond', 'wallSeconds', 'rlSeconds', 'spec']);

process.env['PATH'] = `${process.env['PATH']}:/usr/sbin:/sbin`;

/** Why Slurm cannot run here, or undefined when it can. */
function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the one-node cluster runs its daemons as root, and this process is not root';
  for (const tool of ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'scontrol']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      return `${tool} is not installed (Debian: apt-get install -y slurm-wlm munge)`;
    }
  }
  return undefined;
}

let clusterDir: string | undefined;
let skipReason: string | undefined = unavailable();

before(() => {
  if (skipReason) return;
  clusterDir = mkdtempSync(join(tmpdir(), 'mmrl-slurm-'));
  const started = spawnSync('bash', [join(ROOT, 'scripts/slurm/start-local-cluster.sh'), clusterDir], { encoding: 'utf8' });
  const conf = /^SLURM_CONF=(.+)$/m.exec(started.stdout)?.[1];
  if (started.status !== 0 || !conf) {
    skipReason = `the one-node cluster did not start (exit ${started.status}): ${started.stdout}${started.stderr}`;
    return;
  }
  process.env['SLURM_CONF'] = conf;
});

after(() => {
  if (clusterDir) {
    spawnSync('bash', [join(ROOT, 'scripts/slurm/stop-local-cluster.sh'), clusterDir, '--remove'], { stdio: 'ignore' });
  }
});

/** Skips (or, with MMRL_REQUIRE_SLURM=1, fails) when there is no cluster; returns true when the test may go on. */
function needSlurm(t: TestContext): boolean {
  if (!skipReason) return true;
  assert.ok(!REQUIRED, `Slurm is required (MMRL_REQUIRE_SLURM=1) but ${skipReason}`);
  t.skip(`no Slurm: ${skipReason}`);
  return false;
}

/** A spec over grpo-small.yaml (the shipped small student), tiny budgets, a checkpoint every step. */
function specText(name: string, steps: number, seeds: number[], levels: string): string {
  return [
    `name: ${name}`,
    `base: ${join(ROOT, 'examples/configs/grpo-small.yaml')}`,
    `steps: ${steps}`,
    'overrides:',
    '  /runtime/backend: wasm',
    '  /eval/prompts: 16',
    '  /trainer/promptsPerStep: 4',
    '  /trainer/sources/0/options/samples: 4',
    '  /trainer/checkpointEvery: 1',
    'factors:',
    '  - name: clip',
    '    levels:',
    levels,
    `seeds: [${seeds.join(', ')}]`,
    'baseline: narrow',
    '',
  ].join('\n');
}
const TWO_LEVELS = [
  '      - label: narrow',
  '        overrides: { /trainer/objective/options/clipHigh: 0.2 }',
  '      - label: wide',
  '        overrides: { /trainer/objective/options/clipHigh: 0.28, /trainer/learningRate: 0.002 }',
].join('\n');
const ONE_LEVEL = ['      - label: narrow', '        overrides: { /trainer/objective/options/clipHigh: 0.2 }'].join('\n');

const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

/** metrics.jsonl without the wall-clock fields. */
function metrics(runDir: string): Record<string, unknown>[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => Object.fromEntries(Object.entries(JSON.parse(l)).filter(([k]) => !WALL_CLOCK.has(k))));
}

/** report.json without what depends on the clock or on where the spec file lies. */
function stableReport(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stableReport);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => !REPORT_VOLATILE.has(k)).map(([k, v]) => [k, stableReport(v)]));
  }
  return value;
}

/** `mmrl ablate …` in the background: the child, and a promise of its exit and output. */
function ablateInBackground(args: string[]) {
  const child = spawn(process.execPath, ['--conditions=@mmrl/source', '--import', 'tsx', join(ROOT, 'packages/cli/src/bin.ts'), 'ablate', ...args], {
    cwd: ROOT,
    env: { ...process.env, MMRL_DEBUG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (status) => resolve({ status, stdout, stderr })),
  );
  return { child, done };
}

/** Polls `check` every 200 ms until it returns a value, for at most `seconds`. */
async function waitFor<T>(what: string, seconds: number, check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The Slurm jobs squeue still lists as queued or running. */
function activeJobs(): string[] {
  const out = spawnSync('squeue', ['-h', '-r', '--me', '-o', '%i|%T'], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((l) => /\|(PENDING|RUNNING|CONFIGURING|COMPLETING|SUSPENDED)$/.test(l.trim())).map((l) => l.split('|')[0]!);
}

const runDirs = (runsDir: string) => (existsSync(runsDir) ? readdirSync(runsDir).sort() : []);
const trainingStep = (runDir: string): number | undefined => {
  try {
    return readJson(join(runDir, 'checkpoint', 'state.json')).step as number;
  } catch {
    return undefined;
  }
};

test('Slurm array job: a 2 arms × 2 seeds ablation reports exactly what the local executor reports', (t) => {
  if (!needSlurm(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-ablate-slurm-'));
  const spec = join(dir, 'spec.yaml');
  writeFileSync(spec, specText('pair', 3, [1, 2], TWO_LEVELS));
  const local = mmrl(['ablate', spec, '--jobs', '2', '--out', join(dir, 'local')]);
  assert.equal(local.status, 0, local.stdout + local.stderr);
  const slurm = mmrl(['ablate', spec, '--executor', 'slurm', '--slurm-poll', '0.5', '--slurm-cpus-per-task', '1', '--out', join(dir, 'slurm')]);
  assert.equal(slurm.status, 0, slurm.stdout + slurm.stderr);
  assert.match(slurm.stderr, /submitted 4 runs as Slurm array job \d+/);
  assert.equal((slurm.stderr.match(/ablate: start /g) ?? []).length, 4, slurm.stderr);
  assert.equal((slurm.stderr.match(/\] done .*Slurm job \d+_\d/g) ?? []).length, 4, slurm.stderr);

  const localRuns = join(dir, 'local', 'pair', 'runs');
  const slurmRuns = join(dir, 'slurm', 'pair', 'runs');
  assert.deepEqual(runDirs(slurmRuns), runDirs(localRuns), 'same run directories (same config hashes)');
  for (const name of runDirs(slurmRuns)) {
    const record = readJson(join(slurmRuns, name, 'run.json'));
    assert.equal(record.status, 'completed');
    assert.equal(record.executor, 'slurm');
    assert.match(record.slurm.jobId, /^\d+_[0-3]$/);
    assert.equal(record.slurm.state, 'COMPLETED');
    assert.ok(existsSync(join(slurmRuns, name, 'slurm-job.sh')));
    assert.deepEqual(metrics(join(slurmRuns, name)), metrics(join(localRuns, name)), `${name}: metrics differ from the local run`);
  }
  assert.deepEqual(
    stableReport(readJson(join(dir, 'slurm', 'pair', 'report.json'))),
    stableReport(readJson(join(dir, 'local', 'pair', 'report.json'))),
  );

  const status = mmrl(['ablate', '--status', join(dir, 'slurm', 'pair')]);
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /4 runs: 4 finished, 0 running, 0 pending, 0 failed, 0 stopped/);
  assert.equal((status.stdout.match(/finished {2}\S+ {2}\(Slurm job \d+_\d\)/g) ?? []).length, 4, status.stdout);
  rmSync(dir, { recursive: true, force: true });
});

test('a job killed with scancel mid-run leaves error.log with its Slurm state and resumes on the next invocation', async (t) => {
  if (!needSlurm(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-ablate-slurm-'));
  const spec = join(dir, 'spec.yaml');
  const steps = 12;
  writeFileSync(spec, specText('cancel', steps, [1], ONE_LEVEL));
  const out = join(dir, 'slurm');
  const runsDir = join(out, 'cancel', 'runs');
  const first = ablateInBackground([spec, '--executor', 'slurm', '--slurm-submit', 'per-run', '--slurm-poll', '0.5', '--out', out]);
  const name = await waitFor('the run directory', 60, () => runDirs(runsDir)[0]);
  const runDir = join(runsDir, name);
  // Cancel once the run has written a checkpoint (step ≥ 2) and before it ends.
  await waitFor('a training checkpoint', 120, () => ((trainingStep(runDir) ?? 0) >= 2 ? true : undefined));
  const jobId = readJson(join(runDir, 'run.json')).slurm.jobId as string;
  assert.match(jobId, /^\d+$/, 'one job per run');
  const cancelled = spawnSync('scancel', [jobId], { encoding: 'utf8' });
  assert.equal(cancelled.status, 0, cancelled.stderr);
  const ended = await first.done;
  assert.equal(ended.status, 1, ended.stdout + ended.stderr);
  assert.match(ended.stderr, /1 of 1 runs failed/);
  const step = trainingStep(runDir)!;
  assert.ok(step < steps && !existsSync(join(runDir, 'summary.json')), `cancelled at step ${step}, not mid-run`);
  const errorLog = readFileSync(join(runDir, 'error.log'), 'utf8');
  assert.match(errorLog, new RegExp(`Slurm job ${jobId} CANCELLED`));
  assert.match(errorLog, /state CANCELLED \(from (scontrol|sacct|squeue)\), exit code \d+:\d+/);
  const failed = readJson(join(runDir, 'run.json'));
  assert.equal(failed.status, 'failed');
  assert.equal(failed.slurm.state, 'CANCELLED');
  const status = mmrl(['ablate', '--status', join(out, 'cancel')]);
  assert.match(status.stdout, /1 failed/);
  assert.match(status.stdout, /checkpoint kept: the next mmrl ablate resumes it/);

  // The next invocation resumes the run from its checkpoint, in a new job.
  const second = mmrl(['ablate', spec, '--executor', 'slurm', '--slurm-submit', 'per-run', '--slurm-poll', '0.5', '--out', out]);
  assert.equal(second.status, 0, second.stdout + second.stderr);
  const resumed = readJson(join(runDir, 'run.json'));
  assert.equal(resumed.status, 'completed');
  assert.equal(resumed.resumed, true);
  assert.ok(resumed.command.includes('--resume'));
  assert.notEqual(resumed.slurm.jobId, jobId);
  assert.ok(!existsSync(join(runDir, 'error.log')), 'error.log of the cancelled job removed');
  // … to exactly the metrics of an uninterrupted local run of the same config.
  const local = mmrl(['ablate', spec, '--out', join(dir, 'local')]);
  assert.equal(local.status, 0, local.stderr);
  const localRun = join(dir, 'local', 'cancel', 'runs', name);
  assert.deepEqual(metrics(runDir), metrics(localRun));
  assert.deepEqual(readJson(join(runDir, 'summary.json')).afterRl, readJson(join(localRun, 'summary.json')).afterRl);
  rmSync(dir, { recursive: true, force: true });
});

test('Ctrl-C: --on-interrupt keep leaves the jobs running for the next invocation; cancel scancels them, finished runs untouched', async (t) => {
  if (!needSlurm(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-ablate-slurm-'));
  const spec = join(dir, 'spec.yaml');
  writeFileSync(spec, specText('interrupt', 6, [1, 2], ONE_LEVEL));
  const out = join(dir, 'slurm');
  const runsDir = join(out, 'interrupt', 'runs');
  // Each job sleeps 20 s before its mmrl train (a setup line), so that it is still running when the ablation is
  // interrupted and when the next invocation looks, however loaded the machine.
  const args = [spec, '--executor', 'slurm', '--slurm-poll', '0.5', '--slurm-setup', 'sleep 20', '--out', out];
  const running = (name: string) => {
    try {
      return readJson(join(runsDir, name, 'run.json')).status === 'running';
    } catch {
      return false;
    }
  };

  // keep: the ablation process ends, its jobs go on; the next invocation waits for them instead of submitting.
  const keep = ablateInBackground([...args, '--on-interrupt', 'keep']);
  await waitFor('a running job', 60, () => (runDirs(runsDir).some(running) ? true : undefined));
  keep.child.kill('SIGINT');
  const kept = await keep.done;
  assert.equal(kept.status, 1, kept.stdout + kept.stderr);
  assert.match(kept.stderr, /interrupted \(SIGINT\).*keep running: `mmrl ablate --status /);
  const waiting = mmrl(['ablate', ...args]);
  assert.equal(waiting.status, 0, waiting.stdout + waiting.stderr);
  assert.match(waiting.stderr, /ablate: [12] runs still have Slurm jobs from an earlier invocation/);
  assert.doesNotMatch(waiting.stderr, /submitted/);
  const finished = runDirs(runsDir);
  assert.equal(finished.length, 2);
  const records = finished.map((n) => readJson(join(runsDir, n, 'run.json')));
  for (const r of records) assert.equal(r.status, 'completed');

  // cancel: a third seed; Ctrl-C cancels its job; the two finished runs stay as they are.
  writeFileSync(spec, specText('interrupt', 6, [1, 2, 3], ONE_LEVEL));
  const cancel = ablateInBackground([...args, '--on-interrupt', 'cancel']);
  const third = await waitFor('the third run to start', 60, () => runDirs(runsDir).find((n) => n.includes('-seed3-') && running(n)));
  const jobId = readJson(join(runsDir, third, 'run.json')).slurm.jobId as string;
  cancel.child.kill('SIGINT');
  const stopped = await cancel.done;
  assert.equal(stopped.status, 1, stopped.stdout + stopped.stderr);
  assert.match(stopped.stderr, /the ablation's other Slurm jobs were cancelled/);
  assert.ok(!activeJobs().includes(jobId), `job ${jobId} still queued or running`);
  assert.ok(!existsSync(join(runsDir, third, 'summary.json')), 'cancelled during its set-up line, it cannot have finished');
  assert.match(readFileSync(join(runsDir, third, 'error.log'), 'utf8'), /CANCELLED/);
  finished.forEach((n, k) => assert.deepEqual(readJson(join(runsDir, n, 'run.json')), records[k], `${n} was touched`));
  rmSync(dir, { recursive: true, force: true });
});
