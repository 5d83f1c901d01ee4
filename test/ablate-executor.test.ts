// The executor settings of `mmrl ablate` (issue 15) without a cluster: the spec's `executor:` section and its errors
// (file:line:column), the `--executor`/`--slurm-*` flags over it, the job and array scripts, the config hash
// (output.tensorboard and runtime.threads left out), `--status` of a local ablation directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, copyFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { resolveExecutor, parseExecutorSection, type SlurmSettings } from '../packages/cli/src/ablation/executor-config.js';
import { jobScript } from '../packages/cli/src/ablation/executor-slurm.js';
import { configHash, expandAblation } from '../packages/cli/src/ablation/expand.js';
import { loadAblationSpec } from '../packages/cli/src/ablation/spec.js';
import { mmrl, ROOT } from './helpers.js';

function workspace(specs: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-executor-'));
  copyFileSync(join(ROOT, 'test/fixtures/tiny.yaml'), join(dir, 'tiny.yaml'));
  for (const [name, text] of Object.entries(specs)) writeFileSync(join(dir, name), text);
  return dir;
}

const SPEC = [
  'name: ex',
  'base: ./tiny.yaml',
  'factors: [{ name: f, levels: [{ label: a }, { label: b, overrides: { /trainer/learningRate: 0.01 } }] }]',
  'seeds: [1, 2]',
  'baseline: a',
].join('\n');

test('executor section: every bad key is named with its pointer and line; the flags override it key by key', async () => {
  const issues: string[] = [];
  const add = (pointer: string, message: string) => issues.push(`${pointer}: ${message}`);
  assert.equal(parseExecutorSection(undefined, add), undefined);
  const section = parseExecutorSection(
    { kind: 'slurm', partition: 'cpu', time: 30, cpusPerTask: 2, mem: '4G', sbatch: ['--account=rl'], setup: ['module load nodejs/20'], submit: 'per-run' },
    add,
  );
  assert.deepEqual(issues, []);
  assert.deepEqual(section, {
    kind: 'slurm',
    slurm: { partition: 'cpu', time: '30', cpusPerTask: 2, mem: '4G', sbatch: ['--account=rl'], setup: ['module load nodejs/20'], submit: 'per-run' },
  });
  parseExecutorSection({ kind: 'k8s', time: '1 hour', cpusPerTask: 0, mem: 'lots', pollSecond: 3, sbatch: ['a\nb'] }, add);
  assert.deepEqual(issues, [
    '/executor/pollSecond: unknown key "pollSecond"; did you mean "pollSeconds"? (allowed: kind, partition, time, cpusPerTask, mem, sbatch, setup, submit, pollSeconds)',
    '/executor/kind: must be one of local, slurm, got "k8s"',
    '/executor/time: must be a Slurm time limit such as "30" (minutes), "1:00:00" or "1-0", got "1 hour"',
    '/executor/cpusPerTask: must be a positive integer, got 0',
    '/executor/mem: must be a Slurm memory size such as "4G" or "500M", got "lots"',
    '/executor/sbatch: must be a list of one-line strings',
  ]);

  // Flags over the section: scalars replace, sbatch/setup lines append; local unless someone says slurm.
  assert.deepEqual(resolveExecutor(section, { executor: 'local' }), { kind: 'local' });
  assert.deepEqual(resolveExecutor(undefined, {}), { kind: 'local' });
  const chosen = resolveExecutor(section, { slurmPartition: 'gpu', slurmCpusPerTask: '8', slurmSbatch: ['--qos=short'], slurmPoll: '0.5' });
  assert.deepEqual(chosen, {
    kind: 'slurm',
    slurm: {
      partition: 'gpu',
      time: '30',
      cpusPerTask: 8,
      mem: '4G',
      sbatch: ['--account=rl', '--qos=short'],
      setup: ['module load nodejs/20'],
      submit: 'per-run',
      pollSeconds: 0.5,
    },
  });
  assert.throws(() => resolveExecutor(undefined, { executor: 'pbs' }), /--executor must be one of local, slurm, got "pbs"/);
  assert.throws(() => resolveExecutor(undefined, { executor: 'slurm', slurmCpusPerTask: '1.5' }), /--slurm-cpus-per-task must be a positive integer, got "1.5"/);
  assert.throws(() => resolveExecutor(undefined, { executor: 'slurm', slurmTime: 'soon' }), /--slurm-time must be a Slurm time limit/);
  assert.throws(() => resolveExecutor(undefined, { executor: 'slurm', slurmSubmit: 'batch' }), /--slurm-submit must be one of array, per-run/);

  // In a spec file, the error names the file, the pointer and the line.
  const dir = workspace({ 'bad.yaml': `${SPEC}\nexecutor:\n  kind: slurm\n  mem: lots\n` });
  const bad = mmrl(['ablate', join(dir, 'bad.yaml'), '--dry-run']);
  assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  assert.match(bad.stderr, /\/executor\/mem \(.*bad\.yaml:8:8\): must be a Slurm memory size/);
  rmSync(dir, { recursive: true, force: true });
});

test('job script: #SBATCH lines, the same mmrl train command as the local executor, --resume when a checkpoint exists', async () => {
  const dir = workspace({ 'ex.yaml': SPEC });
  const plan = await expandAblation(await loadAblationSpec(join(dir, 'ex.yaml')));
  const run = plan.runs[0]!;
  const runDir = join(dir, 'out', 'runs', run.dirName);
  const slurm: SlurmSettings = { partition: 'cpu', time: '1:00:00', cpusPerTask: 2, mem: '4G', sbatch: ['#SBATCH --account=rl'], setup: ['echo set up'], submit: 'array', pollSeconds: 5 };
  const script = jobScript(run, runDir, join(runDir, 'run-config.json'), {
    cli: { command: '/usr/bin/node', args: ['/opt/mmrl/bin.js'] },
    extraArgs: ['--plugin', './my plugin.mjs'],
    progress: undefined as never,
    slurm,
    ablationName: 'ex',
    ablationDir: join(dir, 'out'),
    workDir: dir,
    resume: true,
    onInterrupt: 'keep',
  });
  for (const line of ['#SBATCH --job-name=mmrl-ex', '#SBATCH --partition=cpu', '#SBATCH --time=1:00:00', '#SBATCH --cpus-per-task=2', '#SBATCH --mem=4G', '#SBATCH --account=rl', 'echo set up']) {
    assert.ok(script.split('\n').includes(line), `missing line ${line}\n${script}`);
  }
  assert.match(script, new RegExp(`set -- /usr/bin/node /opt/mmrl/bin.js train ${runDir}/run-config.json --resume ${runDir} --plugin './my plugin.mjs' --threads "\\$threads"`));
  assert.match(script, new RegExp(`set -- /usr/bin/node /opt/mmrl/bin.js train ${runDir}/run-config.json --out ${join(dir, 'out', 'runs')} --name ${run.dirName} --plugin`));
  // The script runs under bash: checked for syntax.
  const file = join(dir, 'job.sh');
  writeFileSync(file, script);
  const syntax = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
  assert.equal(syntax.status, 0, syntax.stderr);
  rmSync(dir, { recursive: true, force: true });
});

test('config hash: output.tensorboard and runtime.threads change no number of a run, so not its hash', () => {
  const config = { seed: 1, runtime: { backend: 'wasm' }, output: { dir: 'runs' } };
  const hash = configHash(config);
  assert.equal(configHash({ ...config, runtime: { backend: 'wasm', threads: 4 } }), hash);
  assert.equal(configHash({ ...config, output: { dir: 'runs', tensorboard: true } }), hash);
  assert.notEqual(configHash({ ...config, seed: 2 }), hash);
});

test('--status of a local ablation directory, and its errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-status-'));
  const runs = join(dir, 'ex', 'runs');
  const record = (status: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ arm: 'a', levels: { f: 'a' }, seed: 1, hash: 'h', status, command: [], resumed: false, startedAt: '2026-01-01T00:00:00Z', ...extra });
  mkdirSync(join(runs, 'a-seed1-0000000000', 'checkpoint'), { recursive: true });
  writeFileSync(join(runs, 'a-seed1-0000000000', 'run.json'), record('completed'));
  writeFileSync(join(runs, 'a-seed1-0000000000', 'summary.json'), '{"afterRl": {"accuracy": 0.5}}');
  mkdirSync(join(runs, 'a-seed2-1111111111', 'checkpoint'), { recursive: true });
  writeFileSync(join(runs, 'a-seed2-1111111111', 'run.json'), record('running', { executor: 'local', host: 'elsewhere', pid: 1 }));
  writeFileSync(join(runs, 'a-seed2-1111111111', 'checkpoint', 'state.json'), '{}');
  writeFileSync(join(runs, 'a-seed2-1111111111', 'train.log'), 'RL step 3/10 | reward 0.5\n');
  mkdirSync(join(runs, 'a-seed3-2222222222'), { recursive: true });
  writeFileSync(join(runs, 'a-seed3-2222222222', 'run.json'), record('failed'));
  writeFileSync(join(runs, 'a-seed3-2222222222', 'error.log'), 'run failed\n');
  const status = mmrl(['ablate', '--status', join(dir, 'ex')]);
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /3 runs: 1 finished, 0 running, 0 pending, 1 failed, 1 stopped/);
  assert.match(status.stdout, /stopped {3}a-seed2-1111111111 {2}\(local process on elsewhere; RL step 3\/10; checkpoint kept: the next mmrl ablate resumes it\)/);
  assert.match(status.stdout, /failed {4}a-seed3-2222222222 {2}\(no checkpoint: the next mmrl ablate starts it anew; see .*error\.log\)/);
  const empty = mmrl(['ablate', '--status', tmpdir() + '/no-such-ablation-dir']);
  assert.equal(empty.status, 1);
  assert.match(empty.stderr, /--status .*no-such-ablation-dir: cannot read/);
  const both = mmrl(['ablate', 'spec.yaml', '--status', dir]);
  assert.equal(both.status, 1);
  assert.match(both.stderr, /--status takes an ablation directory and no spec/);
  rmSync(dir, { recursive: true, force: true });
});
