// `mmrl ablate` (issue 6): statistics, JSON pointers, spec errors, the example specs, and an end-to-end tiny ablation
// (2 arms × 2 seeds, 1 RL step, --jobs 2) with resume, a failing arm, the reports and report.html in headless Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { parseConfigText } from '@mmrl/core';
import { expandAblation } from '../packages/cli/src/ablation/expand.js';
import { getPointer, PointerError, removePointer, setPointer } from '../packages/cli/src/ablation/pointer.js';
import { loadAblationSpec, parseAblationSpec } from '../packages/cli/src/ablation/spec.js';
import { pairedDifference, tInterval } from '../packages/cli/src/ablation/stats.js';
import { mmrl, ROOT } from './helpers.js';

const close = (actual: number | null, expected: number, what: string) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);

test('t-interval of n = 5 values matches the hand computation', () => {
  // x = [0.50, 0.54, 0.47, 0.52, 0.49]: x̄ = 2.52/5 = 0.504; Σ(x − x̄)² = 0.000016 + 0.001296 + 0.001156 + 0.000256
  // + 0.000196 = 0.00292; s² = 0.00292/4 = 0.00073, s = 0.0270185122; se = s/√5 = 0.0120830460;
  // t_{0.975, 4} = 2.7764451052 (tables: 2.776); half-width = 0.0335479138; interval [0.4704520862, 0.5375479138].
  const i = tInterval([0.5, 0.54, 0.47, 0.52, 0.49]);
  assert.equal(i.n, 5);
  assert.equal(i.df, 4);
  close(i.mean, 0.504, 'mean');
  close(i.sd, 0.0270185122, 'sd');
  close(i.se, 0.012083046, 'se');
  close(i.t, 2.7764451052, 't quantile');
  close(i.halfWidth, 0.0335479138, 'half-width');
  close(i.low, 0.4704520862, 'low');
  close(i.high, 0.5375479138, 'high');
  // 90%: t_{0.95, 4} = 2.1318467863 (tables: 2.132).
  close(tInterval([0.5, 0.54, 0.47, 0.52, 0.49], 0.9).t, 2.1318467863, 't_{0.95,4}');
  // One value: a mean but no interval; none: NaN.
  const one = tInterval([0.3]);
  assert.equal(one.mean, 0.3);
  assert.equal(one.halfWidth, null);
  assert.equal(one.low, null);
  assert.ok(Number.isNaN(tInterval([]).mean));
});

test('paired differences use only the seeds both arms completed', () => {
  // d = [0.1, 0.05, 0.1] (seed 4 only in the baseline): d̄ = 0.0833333333, s = 0.0288675135, se = 0.0166666667,
  // t_{0.975, 2} = 4.3026527297, half-width = 0.0717108788.
  const d = pairedDifference(
    new Map([
      [1, 0.6],
      [2, 0.5],
      [3, 0.7],
    ]),
    new Map([
      [1, 0.5],
      [2, 0.45],
      [3, 0.6],
      [4, 0.9],
    ]),
  );
  assert.deepEqual(d.seeds, [1, 2, 3]);
  d.differences.forEach((v, k) => close(v, [0.1, 0.05, 0.1][k]!, `difference ${k}`));
  close(d.mean, 0.0833333333, 'mean difference');
  close(d.t, 4.3026527297, 't_{0.975,2}');
  close(d.halfWidth, 0.0717108788, 'half-width');
});

test('JSON pointers: set (creating objects, not arrays), append, escape, remove, errors', () => {
  const doc: Record<string, unknown> = { trainer: { weighters: [{ name: 'tgrl' }], 'a/b': 1 } };
  setPointer(doc, '/trainer/weighters/0/options/beta', 14);
  assert.deepEqual(getPointer(doc, '/trainer/weighters/0'), { name: 'tgrl', options: { beta: 14 } });
  setPointer(doc, '/trainer/weighters/-', { name: 'vgpo' });
  assert.equal(getPointer(doc, '/trainer/weighters/1/name'), 'vgpo');
  assert.equal(getPointer(doc, '/trainer/a~1b'), 1);
  removePointer(doc, '/trainer/weighters/0');
  assert.equal(getPointer(doc, '/trainer/weighters/0/name'), 'vgpo');
  assert.throws(() => setPointer(doc, '/trainer/sources/0/name', 'x'), (e: unknown) => e instanceof PointerError && /set \/trainer\/sources to a whole list/.test(e.message));
  assert.throws(() => setPointer(doc, '/trainer/weighters/5', {}), /index 5 is out of range at \/trainer\/weighters \(the array has 1 elements\)/);
  assert.throws(() => setPointer(doc, 'trainer', 1), /starts with "\/"/);
  assert.throws(() => removePointer(doc, '/nothing'), /nothing to remove/);
});

/** A temporary directory with a tiny base config (copied from test/fixtures/tiny.yaml) and the given spec files. */
function workspace(specs: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-ablate-'));
  copyFileSync(join(ROOT, 'test/fixtures/tiny.yaml'), join(dir, 'tiny.yaml'));
  for (const [name, text] of Object.entries(specs)) writeFileSync(join(dir, name), text);
  return dir;
}

test('spec errors name the spec file, the JSON pointer of the bad factor level and its line', () => {
  const dir = workspace({
    'bad.yaml': [
      'name: bad',
      'base: ./tiny.yaml',
      'factors:',
      '  - name: clip',
      '    levels:',
      '      - label: narrow',
      '        overrides: { /trainer/objective/options/clipHihg: 0.2 }',
      '      - label: other',
      '        overrides:',
      '          - { pointer: /trainer/advantage/name, value: grpp }',
      'seeds: [1, 2]',
      'baseline: narrow',
      '',
    ].join('\n'),
    'baseline.yaml': 'base: ./tiny.yaml\nfactors: [{ name: f, levels: [{ label: a }, { label: b }] }]\nseeds: [1]\nbaseline: c\nsteps: -1\n',
    'final.yaml': 'base: ./tiny.yaml\nfactors: [{ name: f, levels: [{ label: a }] }]\nseeds: [1]\nbaseline: a\nfinalEval: { prompts: 0, seed: 2 }\n',
  });
  const bad = mmrl(['ablate', join(dir, 'bad.yaml'), '--dry-run']);
  assert.equal(bad.status, 1, bad.stdout + bad.stderr);
  const file = join(dir, 'bad.yaml');
  assert.match(bad.stderr, new RegExp(`Invalid ablation spec ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.match(
    bad.stderr,
    /\/factors\/0\/levels\/0\/overrides\/~1trainer~1objective~1options~1clipHihg \(.*bad\.yaml:7:\d+\): arm "narrow": run config \/trainer\/objective\/options\/clipHihg: unknown key "clipHihg"; did you mean "clipHigh"\?/,
  );
  assert.match(bad.stderr, /\/factors\/0\/levels\/1\/overrides\/0 \(.*bad\.yaml:10:\d+\): arm "other": run config \/trainer\/advantage\/name: unknown advantage-estimator "grpp"; did you mean "grpo"\?/);
  const baseline = mmrl(['ablate', join(dir, 'baseline.yaml'), '--dry-run']);
  assert.equal(baseline.status, 1);
  assert.match(baseline.stderr, /\/baseline \(.*baseline\.yaml:4:11\): "c" is not an arm/);
  assert.match(baseline.stderr, /\/steps \(.*baseline\.yaml:5:8\): must be a non-negative integer/);
  const final = mmrl(['ablate', join(dir, 'final.yaml'), '--dry-run']);
  assert.equal(final.status, 1);
  assert.match(final.stderr, /\/finalEval\/prompts \(.*final\.yaml:5:\d+\): must be an integer from 1 to 100000 \(held-out test prompts\), got 0/);
  assert.match(final.stderr, /\/finalEval\/seed \(.*final\.yaml:5:\d+\): unknown key/);
});

test('the example ablation specs expand to validated runs (≥ 5 seeds, their RL steps) with absolute paths and claims', async () => {
  const dir = join(ROOT, 'examples/ablations');
  const specs = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  // RL steps of every run: the calibrated regimes (docs/regimes.md).
  const steps: Record<string, number> = {
    'durian-count.yaml': 400,
    'ivr-grpo.yaml': 400,
    'ivr-rectified.yaml': 400,
    'regime-count-kl.yaml': 400,
    'regime-count-small.yaml': 400,
    'tgrl-beta-kl.yaml': 400,
    'tgrl-beta.yaml': 400,
    'tgrl-beta10-kl.yaml': 400,
    'tgrl-beta5-beta1.yaml': 400,
    'tgrl-components-kl.yaml': 400,
    'tgrl-components.yaml': 400,
    'tgrl-count-kl.yaml': 400,
    'tgrl-count.yaml': 400,
    'tgrl-hard-filter.yaml': 400,
    'tgrl-hard.yaml': 400,
    'tor-delta-logp-kl.yaml': 400,
    'tor-delta-logp.yaml': 400,
    'vgpo-compensation.yaml': 400,
    'vgpo-intra-inter.yaml': 400,
    'vgpo-kl.yaml': 400,
  };
  assert.deepEqual(specs.sort(), Object.keys(steps));
  // Every spec is expanded once; the checks on shared runs below read these plans.
  const plans = new Map<string, Awaited<ReturnType<typeof expandAblation>>>();
  for (const f of specs) {
    const plan = await expandAblation(await loadAblationSpec(join(dir, f)));
    plans.set(f, plan);
    assert.ok(plan.spec.seeds.length >= 5, `${f}: ${plan.spec.seeds.length} seeds`);
    assert.equal(plan.runs.length, plan.arms.length * plan.spec.seeds.length);
    assert.ok(plan.arms.some((a) => a.label === plan.spec.baseline));
    for (const run of plan.runs) {
      assert.equal(run.config.trainer.steps, steps[f], `${f} ${run.dirName}`);
      assert.equal(run.config.seed, run.seed);
      assert.ok(run.config.init.checkpoint && isAbsolute(run.config.init.checkpoint) && existsSync(run.config.init.checkpoint));
      for (const source of run.config.trainer.sources) {
        const checkpoint = (source.options as { checkpoint?: string }).checkpoint;
        if (checkpoint !== undefined) assert.ok(isAbsolute(checkpoint) && existsSync(checkpoint), `${f}: ${checkpoint}`);
      }
    }
    assert.equal(new Set(plan.runs.map((r) => r.hash)).size, plan.runs.length, `${f}: every run has its own hash`);
    assert.ok(plan.spec.claims.length > 0, `${f} states the paper's claims it tests`);
  }
  // The two specs of the TGRL regime share their TGRL (β = 5) and GRPO runs, as their comments say (--reuse).
  const planOf = (f: string) => plans.get(f)!;
  const hashes = (f: string) => new Map(planOf(f).runs.map((r) => [`${r.arm}/${r.seed}`, r.hash]));
  const [components, beta] = [hashes('tgrl-components.yaml'), hashes('tgrl-beta.yaml')];
  const betaSeeds = hashes('tgrl-beta5-beta1.yaml');
  for (let seed = 1; seed <= 8; seed++) {
    assert.equal(components.get(`tgrl/${seed}`), beta.get(`beta5/${seed}`), `TGRL seed ${seed}`);
    assert.equal(components.get(`no-expert/${seed}`), beta.get(`grpo/${seed}`), `GRPO seed ${seed}`);
    // tgrl-beta5-beta1 is tgrl-beta's β = 1 and β = 5 arms with more seeds: its first 8 are tgrl-beta's runs.
    for (const arm of ['beta1', 'beta5']) assert.equal(betaSeeds.get(`${arm}/${seed}`), beta.get(`${arm}/${seed}`), `${arm} seed ${seed}`);
  }
  assert.equal(betaSeeds.size, 2 * 18, 'tgrl-beta5-beta1: 2 arms × the 18 seeds its power line asked for');
  // The VGPO specs run on the count regime's DAPO host: their dapo arm is regime-count-small's, and
  // vgpo-compensation's late arm is vgpo-intra-inter's vgpo (--reuse copies them).
  const regime = hashes('regime-count-small.yaml');
  const intraInter = hashes('vgpo-intra-inter.yaml');
  const compensation = hashes('vgpo-compensation.yaml');
  // regime-count-kl is regime-count-small at the count regime's KL budget: each run's config is its twin's with the
  // learning rate 3e-4 instead of 2e-4 and a k3 KL penalty of 0.04 instead of none, nothing else.
  const regimePlan = planOf('regime-count-small.yaml');
  const klPlan = planOf('regime-count-kl.yaml');
  // Its arms are regime-count-small's but clip-higher, which one update per batch makes GRPO to the digit.
  assert.deepEqual(klPlan.arms.map((a) => a.label), ['grpo', 'dapo', 'tgrl', 'durian']);
  // Each run of `arm` in `plan`, with `undo` applied to a copy of its config, is its seed's run of `twinArm` in `twinPlan`.
  type Plan = ReturnType<typeof planOf>;
  type PlanRun = Plan['runs'][number];
  const assertTwins = (plan: Plan, arm: string, twinPlan: Plan, twinArm: string, undo: (config: PlanRun['config'], run: PlanRun, twin: PlanRun) => void) => {
    for (const run of plan.runs.filter((r) => r.arm === arm)) {
      const twin = twinPlan.runs.find((r) => r.arm === twinArm && r.seed === run.seed)!;
      const config = structuredClone(run.config);
      undo(config, run, twin);
      assert.deepEqual(config, twin.config, `${run.arm} seed ${run.seed}`);
    }
  };
  // Takes a run at the KL budget back to the first budget: lr 2e-4 (its twin's) and no KL term.
  const undoKlBudget = (config: PlanRun['config'], run: PlanRun, twin: PlanRun) => {
    const objective = config.trainer.objective.options as { klCoefficient: number; klEstimator: string };
    assert.deepEqual([config.trainer.learningRate, objective.klCoefficient, objective.klEstimator], [0.0003, 0.04, 'k3']);
    config.trainer.learningRate = twin.config.trainer.learningRate;
    objective.klCoefficient = 0;
    assert.notEqual(run.hash, twin.hash);
  };
  for (const arm of klPlan.arms.map((a) => a.label)) assertTwins(klPlan, arm, regimePlan, arm, undoKlBudget);
  // The TGRL specs at the KL budget: tgrl-count-kl is regime-count-kl's grpo and tgrl arms with the 15 seeds its
  // power line asked for, and tgrl-components-kl's tgrl and no-expert arms are those runs too (--reuse copies them).
  const kl = hashes('regime-count-kl.yaml');
  const tgrlCountKl = hashes('tgrl-count-kl.yaml');
  const componentsKl = hashes('tgrl-components-kl.yaml');
  assert.equal(tgrlCountKl.size, 2 * 15, 'tgrl-count-kl: 2 arms × 15 seeds');
  for (let seed = 1; seed <= 8; seed++) {
    for (const arm of ['grpo', 'tgrl']) assert.equal(tgrlCountKl.get(`${arm}/${seed}`), kl.get(`${arm}/${seed}`), `${arm} seed ${seed}`);
    assert.equal(componentsKl.get(`tgrl/${seed}`), kl.get(`tgrl/${seed}`), `TGRL seed ${seed}`);
    assert.equal(componentsKl.get(`no-expert/${seed}`), kl.get(`grpo/${seed}`), `GRPO seed ${seed}`);
  }
  // tgrl-beta-kl's grpo and beta5 arms are those runs as well; tgrl-beta10-kl is its grpo and beta10 arms with the 15
  // seeds their power line asked for: grpo's are tgrl-count-kl's, beta10's first 8 tgrl-beta-kl's.
  const betaKl = hashes('tgrl-beta-kl.yaml');
  const beta10Kl = hashes('tgrl-beta10-kl.yaml');
  assert.equal(betaKl.size, 4 * 8, 'tgrl-beta-kl: 4 arms × 8 seeds');
  assert.equal(beta10Kl.size, 2 * 15, 'tgrl-beta10-kl: 2 arms × 15 seeds');
  for (let seed = 1; seed <= 8; seed++) {
    assert.equal(betaKl.get(`grpo/${seed}`), kl.get(`grpo/${seed}`), `GRPO seed ${seed}`);
    assert.equal(betaKl.get(`beta5/${seed}`), kl.get(`tgrl/${seed}`), `β = 5 seed ${seed}`);
    assert.equal(beta10Kl.get(`beta10/${seed}`), betaKl.get(`beta10/${seed}`), `β = 10 seed ${seed}`);
  }
  for (let seed = 1; seed <= 15; seed++) assert.equal(beta10Kl.get(`grpo/${seed}`), tgrlCountKl.get(`grpo/${seed}`), `GRPO seed ${seed}`);
  // tor-delta-logp-kl's hosts are regime-count-kl's grpo and dapo arms, and its tor and delta-logp arms (vgpo-kl's
  // vgpo) are tor-delta-logp's (vgpo-intra-inter's) at the KL budget: lr 3e-4 and a k3 KL penalty of 0.04, nothing else.
  const torKl = hashes('tor-delta-logp-kl.yaml');
  for (let seed = 1; seed <= 5; seed++) {
    for (const arm of ['grpo', 'dapo']) assert.equal(torKl.get(`${arm}/${seed}`), kl.get(`${arm}/${seed}`), `${arm} seed ${seed}`);
  }
  // vgpo-kl's dapo arm is regime-count-kl's too.
  const vgpoKl = hashes('vgpo-kl.yaml');
  for (let seed = 1; seed <= 5; seed++) assert.equal(vgpoKl.get(`dapo/${seed}`), kl.get(`dapo/${seed}`), `DAPO seed ${seed}`);
  const torKlPlan = planOf('tor-delta-logp-kl.yaml');
  assert.deepEqual(torKlPlan.arms.map((a) => a.label), ['grpo', 'tor', 'dapo', 'delta-logp']);
  for (const [plan, twinPlan, arm] of [
    [torKlPlan, planOf('tor-delta-logp.yaml'), 'tor'],
    [torKlPlan, planOf('tor-delta-logp.yaml'), 'delta-logp'],
    [planOf('vgpo-kl.yaml'), planOf('vgpo-intra-inter.yaml'), 'vgpo'],
  ] as const) assertTwins(plan, arm, twinPlan, arm, undoKlBudget);
  // tgrl-components-kl's no-filter and no-reweight arms are its tgrl arm with one weighter option turned off, and
  // tgrl-beta-kl's beta10 and beta1 its beta5 with β = 10 and β = 1: nothing else differs.
  const componentsKlPlan = planOf('tgrl-components-kl.yaml');
  for (const [arm, option] of [['no-filter', 'filter'], ['no-reweight', 'reweight']] as const) {
    assertTwins(componentsKlPlan, arm, componentsKlPlan, 'tgrl', (config, run) => {
      const options = config.trainer.weighters[0]!.options as Record<string, unknown>;
      assert.equal(options[option], false, `${run.arm} seed ${run.seed}`);
      options[option] = true;
    });
  }
  const betaKlPlan = planOf('tgrl-beta-kl.yaml');
  for (const [arm, value] of [['beta10', 10], ['beta1', 1]] as const) {
    assertTwins(betaKlPlan, arm, betaKlPlan, 'beta5', (config, run) => {
      const options = config.trainer.weighters[0]!.options as { beta: number };
      assert.equal(options.beta, value, `${arm} seed ${run.seed}`);
      options.beta = 5;
    });
  }
  // tor-delta-logp's hosts are regime-count-small's grpo and dapo arms too.
  const tokenWeighters = hashes('tor-delta-logp.yaml');
  // tgrl-count is regime-count-small's grpo and tgrl arms with more seeds: its first 8 are that spec's runs.
  const tgrlCount = hashes('tgrl-count.yaml');
  assert.equal(tgrlCount.size, 2 * 14, 'tgrl-count: 2 arms × 14 seeds');
  for (let seed = 1; seed <= 8; seed++) {
    for (const arm of ['grpo', 'tgrl']) assert.equal(tgrlCount.get(`${arm}/${seed}`), regime.get(`${arm}/${seed}`), `${arm} seed ${seed}`);
  }
  // durian-count is regime-count-small's grpo and durian arms with the 28 seeds their power line asked for: its first 8
  // are that spec's runs, and GRPO's seeds 9–14 are tgrl-count's.
  const durianCount = hashes('durian-count.yaml');
  assert.equal(durianCount.size, 2 * 28, 'durian-count: 2 arms × 28 seeds');
  for (let seed = 1; seed <= 8; seed++) {
    for (const arm of ['grpo', 'durian']) assert.equal(durianCount.get(`${arm}/${seed}`), regime.get(`${arm}/${seed}`), `${arm} seed ${seed}`);
  }
  for (let seed = 9; seed <= 14; seed++) assert.equal(durianCount.get(`grpo/${seed}`), tgrlCount.get(`grpo/${seed}`), `GRPO seed ${seed}`);
  for (let seed = 1; seed <= 5; seed++) {
    assert.equal(tokenWeighters.get(`grpo/${seed}`), regime.get(`grpo/${seed}`), `GRPO seed ${seed}`);
    assert.equal(tokenWeighters.get(`dapo/${seed}`), regime.get(`dapo/${seed}`), `DAPO seed ${seed}`);
    assert.equal(intraInter.get(`dapo/${seed}`), regime.get(`dapo/${seed}`), `DAPO seed ${seed}`);
    assert.equal(compensation.get(`dapo/${seed}`), regime.get(`dapo/${seed}`), `DAPO seed ${seed}`);
    assert.equal(compensation.get(`late/${seed}`), intraInter.get(`vgpo/${seed}`), `VGPO seed ${seed}`);
  }
  // The IVR-R1 regime: both arms start from the count regime's student after its SFT on the critique and
  // rectification turns (student-small-ivr), and differ only in the trajectory source and the shaping weighter.
  const ivr = planOf('ivr-grpo.yaml');
  for (const run of ivr.runs) {
    assert.match(run.config.init.checkpoint!, /examples\/checkpoints\/student-small-ivr$/);
    assert.equal(run.config.trainer.promptsPerStep, 24);
    const sources = run.config.trainer.sources.map((s) => s.name);
    const weighters = run.config.trainer.weighters.map((w) => w.name);
    assert.deepEqual([sources, weighters], run.arm === 'ivr' ? [['ivr-rectification'], ['ivr-shaping']] : [['on-policy'], []]);
    const { klCoefficient, klEstimator } = run.config.trainer.objective.options as { klCoefficient: number; klEstimator: string };
    assert.deepEqual([run.config.trainer.learningRate, klCoefficient, klEstimator], [0.0003, 0.04, 'k3']);
  }
  // ivr-rectified's K = 2 arm is ivr-grpo's ivr arm (same hashes: --reuse takes it over).
  const rectified = hashes('ivr-rectified.yaml');
  for (const run of ivr.runs.filter((r) => r.arm === 'ivr')) assert.equal(rectified.get(`k2/${run.seed}`), run.hash, `IVR-R1 seed ${run.seed}`);
  // The hard TGRL regime: 4-slot count questions from student-small-k4, the K = 4 small expert, 24 prompts per step;
  // GRPO has 8 on-policy samples and no weighter, the TGRL arms 7 + 1 and the tgrl weighter with one option changed.
  // tgrl-hard-filter is tgrl-hard's tgrl and no-filter arms with the 13 seeds its power line asked for.
  const hardHashes = hashes('tgrl-hard.yaml');
  const hardFilter = hashes('tgrl-hard-filter.yaml');
  assert.equal(hardFilter.size, 2 * 13, 'tgrl-hard-filter: 2 arms × 13 seeds');
  for (let seed = 1; seed <= 5; seed++) {
    for (const arm of ['tgrl', 'no-filter']) assert.equal(hardFilter.get(`${arm}/${seed}`), hardHashes.get(`${arm}/${seed}`), `${arm} seed ${seed}`);
  }
  const hard = planOf('tgrl-hard.yaml');
  for (const run of hard.runs) {
    assert.match(run.config.init.checkpoint!, /examples\/checkpoints\/student-small-k4$/);
    assert.equal((run.config.task.options as { slots: number }).slots, 4);
    assert.equal(run.config.trainer.promptsPerStep, 24);
    const sources = run.config.trainer.sources.map((s) => `${s.name}:${(s.options as { samples: number }).samples}`);
    if (run.arm === 'grpo') {
      assert.deepEqual([sources, run.config.trainer.weighters], [['on-policy:8'], []]);
      continue;
    }
    assert.deepEqual(sources, ['on-policy:7', 'expert:1']);
    assert.match((run.config.trainer.sources[1]!.options as { checkpoint: string }).checkpoint, /examples\/checkpoints\/expert-small-k4$/);
    const { filter, reweight } = run.config.trainer.weighters[0]!.options as { filter: boolean; reweight: boolean };
    assert.deepEqual({ filter, reweight }, { filter: run.arm !== 'no-filter', reweight: run.arm !== 'no-reweight' }, run.dirName);
  }
});

test('the spec examples of README.md and docs/ablations.md are valid specs', async () => {
  for (const doc of ['README.md', 'docs/ablations.md']) {
    const blocks = [...readFileSync(join(ROOT, doc), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => /^factors:/m.test(b));
    assert.ok(blocks.length > 0, `${doc} shows no spec`);
    for (const text of blocks) {
      // As if the block were a file in examples/ablations/, where the shipped specs live.
      const file = join(ROOT, 'examples/ablations', 'from-docs.yaml');
      const spec = await parseAblationSpec(parseYaml(text), file, text, async (path) => {
        const baseText = await readFile(path, 'utf8');
        return { data: parseConfigText(baseText, path), text: baseText };
      });
      const plan = await expandAblation(spec);
      assert.ok(plan.runs.length >= 2, `${doc}: ${plan.runs.length} runs`);
    }
  }
});

test('run hashes do not depend on where the spec and its base live, and change with the config', async () => {
  const spec = 'name: h\nbase: ./tiny.yaml\nfactors: [{ name: f, levels: [{ label: a }, { label: b, overrides: { /trainer/learningRate: 0.01 } }] }]\nseeds: [1, 2]\nbaseline: a\n';
  const one = await expandAblation(await loadAblationSpec(join(workspace({ 's.yaml': spec }), 's.yaml')));
  const two = await expandAblation(await loadAblationSpec(join(workspace({ 's.yaml': spec }), 's.yaml')));
  assert.deepEqual(
    one.runs.map((r) => r.dirName),
    two.runs.map((r) => r.dirName),
  );
  assert.match(one.runs[0]!.dirName, /^a-seed1-[0-9a-f]{10}$/);
  assert.equal(new Set(one.runs.map((r) => r.hash)).size, 4);
  // runtime.threads changes no number of a run (bit-identical, packages/core/test/runtime/wasm-threads.test.ts):
  // runs that differ only there share their hash (and --reuse takes them); the backend does not.
  const threads = await expandAblation(
    await loadAblationSpec(join(workspace({ 's.yaml': spec.replace('seeds:', 'overrides: { /runtime/threads: 3 }\nseeds:') }), 's.yaml')),
  );
  assert.equal(threads.runs[0]!.config.runtime.threads, 3);
  assert.deepEqual(
    threads.runs.map((r) => r.hash),
    one.runs.map((r) => r.hash),
  );
  const cpu = await expandAblation(
    await loadAblationSpec(join(workspace({ 's.yaml': spec.replace('seeds:', 'overrides: { /runtime/backend: cpu }\nseeds:') }), 's.yaml')),
  );
  assert.notEqual(cpu.runs[0]!.hash, one.runs[0]!.hash);
});

/** Parses JSON from a file. */
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));

/** The chromium binary the report test drives (`CHROMIUM` overrides). */
const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';

/** Renders report.html in headless Chromium: every chart drawn by Chart.js, and a PNG screenshot under `dir`. */
function renderInChromium(html: string, dir: string): void {
  const profile = mkdtempSync(join(tmpdir(), 'mmrl-chromium-'));
  const chromium = (...args: string[]) =>
    spawnSync(
      CHROMIUM,
      ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${profile}`, '--virtual-time-budget=5000', ...args, `file://${html}`],
      { encoding: 'utf8', timeout: 120_000 },
    );
  const dom = chromium('--dump-dom');
  assert.equal(dom.status, 0, dom.stderr);
  assert.match(dom.stdout, /<body[^>]*data-charts-rendered="true"/, 'Chart.js did not finish drawing every chart');
  assert.doesNotMatch(dom.stdout, /data-charts-error=/);
  const canvases = dom.stdout.match(/<canvas[^>]*>/g) ?? [];
  assert.equal(canvases.length, 5);
  for (const c of canvases) assert.match(c, /data-rendered="true"/);
  const png = join(dir, 'report.png');
  const shot = chromium(`--screenshot=${png}`, '--window-size=1200,1600');
  assert.equal(shot.status, 0, shot.stderr);
  assert.ok(existsSync(png), 'no screenshot written');
  assert.deepEqual([...readFileSync(png).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'not a PNG');
  assert.ok(statSync(png).size > 20_000, `screenshot of ${statSync(png).size} bytes`);
  rmSync(profile, { recursive: true, force: true });
}

test('mmrl ablate end to end: 2 arms × 2 seeds in parallel, resume, a failing arm, reports, report.html in Chromium', (t) => {
  const tiny = [
    'name: tiny',
    'base: ./tiny.yaml',
    'steps: 1',
    'overrides:',
    '  /eval/prompts: 4',
    'factors:',
    '  - name: clip',
    '    levels:',
    '      - label: narrow',
    '        overrides: { /trainer/objective/options/clipHigh: 0.2 }',
    '      - label: wide',
    '        overrides: { /trainer/objective/options/clipHigh: 0.28 }',
    'seeds: [1, 2]',
    'baseline: narrow',
    'claims:',
    '  - { better: wide, worse: narrow, source: "DAPO clip-higher" }',
    '',
  ].join('\n');
  // The same ablation (same name, same arms) with a third arm whose checkpoint does not exist: it fails at start-up.
  const broken = tiny.replace('seeds:', '      - label: broken\n        overrides: { /init/checkpoint: ./no-such-checkpoint }\nseeds:');
  const dir = workspace({ 'tiny-ablation.yaml': tiny, 'broken-ablation.yaml': broken });
  const out = join(dir, 'out');
  const ablationDir = join(out, 'tiny');
  const runsDir = join(ablationDir, 'runs');

  // 1. Four runs, two at a time.
  const first = mmrl(['ablate', join(dir, 'tiny-ablation.yaml'), '--jobs', '2', '--out', out]);
  assert.equal(first.status, 0, first.stdout + first.stderr);
  const dirs = readdirSync(runsDir).sort();
  assert.equal(dirs.length, 4, dirs.join(', '));
  for (const d of dirs) assert.match(d, /^(narrow|wide)-seed[12]-[0-9a-f]{10}$/);
  assert.deepEqual(dirs.map((d) => d.replace(/-[0-9a-f]{10}$/, '')), ['narrow-seed1', 'narrow-seed2', 'wide-seed1', 'wide-seed2']);
  assert.equal(new Set(dirs.map((d) => d.slice(-10))).size, 4, 'every run has its own hash');
  const records = dirs.map((d) => readJson(join(runsDir, d, 'run.json')));
  for (const [k, d] of dirs.entries()) {
    const run = join(runsDir, d);
    const record = records[k];
    assert.equal(record.status, 'completed');
    assert.equal(record.hash, d.slice(-10));
    assert.equal(record.resumed, false);
    assert.ok(existsSync(join(run, 'summary.json')) && existsSync(join(run, 'train.log')) && !existsSync(join(run, 'error.log')));
    const config = readJson(join(run, 'run-config.json'));
    assert.equal(config.seed, record.seed);
    assert.equal(config.trainer.steps, 1);
    assert.equal(config.eval.prompts, 4);
    assert.equal(config.trainer.objective.options.clipHigh, record.arm === 'wide' ? 0.28 : 0.2);
    const rl = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.phase === 'rl');
    assert.equal(rl.length, 1);
  }
  // --jobs 2: two runs were under way at the same time.
  const spans = records.map((r) => [Date.parse(r.startedAt), Date.parse(r.finishedAt)] as const);
  assert.ok(
    spans.some(([s1, e1], i) => spans.some(([s2, e2], j) => i !== j && s1 < e2 && s2 < e1)),
    `no two runs overlapped: ${JSON.stringify(spans)}`,
  );

  // The reports: statistics from the runs' summary.json, paired by seed.
  const report = readJson(join(ablationDir, 'report.json'));
  assert.deepEqual(report.summary, { runs: 4, completed: 4, failed: 0, skipped: 0, reused: 0 });
  const accuracy = (arm: string, seed: number) =>
    readJson(join(runsDir, dirs.find((d) => d.startsWith(`${arm}-seed${seed}-`))!, 'summary.json')).afterRl.accuracy as number;
  const [narrow, wide] = report.arms;
  assert.equal(narrow.label, 'narrow');
  assert.equal(narrow.isBaseline, true);
  assert.equal(narrow.difference, null);
  const expected = tInterval([accuracy('narrow', 1), accuracy('narrow', 2)]);
  assert.equal(narrow.heldOut.n, 2);
  close(narrow.heldOut.mean, expected.mean, 'narrow mean');
  close(narrow.heldOut.halfWidth ?? 0, expected.halfWidth ?? 0, 'narrow half-width');
  assert.deepEqual(wide.difference.seeds, [1, 2]);
  close(wide.difference.differences[0], accuracy('wide', 1) - accuracy('narrow', 1), 'paired difference seed 1');
  close(wide.difference.differences[1], accuracy('wide', 2) - accuracy('narrow', 2), 'paired difference seed 2');
  assert.deepEqual(wide.curves.steps, [1]);
  assert.equal(wide.curves.reward.length, 1);
  assert.ok(wide.curves.heldOut.length >= 2, 'held-out accuracy before and after RL');
  assert.ok(wide.tokensPerSecond > 0 && wide.wallSeconds > 0);
  for (const r of report.runs) assert.equal(typeof r.tokensPerSecond, 'number');
  const md = readFileSync(join(ablationDir, 'report.md'), 'utf8');
  assert.match(md, /^# Ablation tiny$/m);
  assert.match(md, /\| arm \| clip \| runs \| held-out accuracy \| 95% CI \| Δ vs narrow \(paired\) \| 95% CI of Δ \|/);
  assert.match(md, /^\| narrow \(baseline\) \| narrow \| 2\/2 \| \d+\.\d% \| \[/m);
  assert.match(md, /^\| wide \| wide \| 2\/2 \| \d+\.\d% \| \[[^\]]+\] \| [+−]\d+\.\d pt \| \[/m);
  for (const d of dirs) assert.ok(md.includes(`runs/${d}`), `report.md lists ${d}`);
  // The claim's verdict is computed from the same paired difference as the wide arm's Δ.
  assert.equal(report.claims.length, 1);
  assert.deepEqual(report.claims[0].difference.differences, wide.difference.differences);
  assert.ok(['reproduced', 'opposite', 'inconclusive'].includes(report.claims[0].verdict));
  assert.equal(report.claims[0].power.seeds, 2);
  assert.match(md, /^\| wide > narrow \| DAPO clip-higher \| 2 \| /m);
  assert.match(md, /^- wide > narrow \(DAPO clip-higher\): (reproduced|opposite|inconclusive)\. 2 (seeds|paired seeds)/m);

  // report.html in headless Chromium: every chart drawn by Chart.js, and a screenshot.
  const html = join(ablationDir, 'report.html');
  const page = readFileSync(html, 'utf8');
  assert.ok(!/<script[^>]+src=/.test(page), 'report.html loads no external script');
  assert.match(page, /Chart\.js v4/);
  // CI (.ci/run sets MMRL_REQUIRE_CHROMIUM=1) must check the page in a browser; elsewhere, without Chromium, the
  // browser check is skipped and says why, so `npm test` passes on a fresh clone of a machine without it.
  if (!existsSync(CHROMIUM) && process.env['MMRL_REQUIRE_CHROMIUM'] !== '1') {
    t.diagnostic(
      `report.html not rendered: ${CHROMIUM} does not exist (apt-get install -y chromium, or set CHROMIUM to its ` +
        'path; MMRL_REQUIRE_CHROMIUM=1 makes this a failure)',
    );
  } else {
    assert.ok(
      existsSync(CHROMIUM),
      `Chromium is required to check report.html but ${CHROMIUM} does not exist: install it with ` +
        '`apt-get install -y chromium` (.ci/run does), or set CHROMIUM to its path',
    );
    renderInChromium(html, dir);
  }

  // 2. The same command again: everything is finished, nothing runs.
  const again = mmrl(['ablate', join(dir, 'tiny-ablation.yaml'), '--jobs', '2', '--out', out]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal((again.stderr.match(/ skip /g) ?? []).length, 4, again.stderr);
  assert.doesNotMatch(again.stderr, /ablate: start/);
  dirs.forEach((d, k) => assert.equal(readJson(join(runsDir, d, 'run.json')).startedAt, records[k].startedAt, `${d} ran again`));
  assert.deepEqual(readJson(join(ablationDir, 'report.json')).summary, { runs: 4, completed: 4, failed: 0, skipped: 4, reused: 0 });

  // 3. An interrupted run (training checkpoint, no summary.json) continues from its checkpoint.
  rmSync(join(runsDir, dirs[3]!, 'summary.json'));
  const resumed = mmrl(['ablate', join(dir, 'tiny-ablation.yaml'), '--out', out]);
  assert.equal(resumed.status, 0, resumed.stderr);
  const record = readJson(join(runsDir, dirs[3]!, 'run.json'));
  assert.equal(record.resumed, true);
  assert.ok(record.command.includes('--resume'));
  assert.ok(existsSync(join(runsDir, dirs[3]!, 'summary.json')));

  // 4. A failing arm: reported with its stderr tail, the other runs unaffected, exit code 1.
  const failing = mmrl(['ablate', join(dir, 'broken-ablation.yaml'), '--jobs', '2', '--out', out]);
  assert.equal(failing.status, 1, failing.stdout + failing.stderr);
  assert.match(failing.stderr, /2 of 6 runs failed/);
  assert.match(failing.stderr, /Checkpoint not found: .*no-such-checkpoint/);
  const brokenDirs = readdirSync(runsDir).filter((d) => d.startsWith('broken-'));
  assert.equal(brokenDirs.length, 2);
  for (const d of brokenDirs) {
    assert.equal(readJson(join(runsDir, d, 'run.json')).status, 'failed');
    const log = readFileSync(join(runsDir, d, 'error.log'), 'utf8');
    assert.match(log, /exit code 1/);
    assert.match(log, /last \d+ lines of stderr/);
    assert.match(log, /Checkpoint not found/);
  }
  const after = readJson(join(ablationDir, 'report.json'));
  assert.deepEqual(after.summary, { runs: 6, completed: 4, failed: 2, skipped: 4, reused: 0 });
  const brokenArm = after.arms.find((a: { label: string }) => a.label === 'broken');
  assert.deepEqual(brokenArm.runs, { total: 2, completed: 0, failed: 2 });
  assert.equal(brokenArm.heldOut.n, 0);
  const failedMd = readFileSync(join(ablationDir, 'report.md'), 'utf8');
  assert.match(failedMd, /## Failed runs/);
  for (const d of brokenDirs) assert.ok(failedMd.includes(relative(ablationDir, join(runsDir, d, 'error.log'))));
  assert.match(failedMd, /^\| broken \| broken \| 0\/2 \(2 failed\) \|/m);

  // 5. Another ablation whose arms share configs with this one (other labels): --reuse copies those runs (same
  // config hash) instead of training them again; only the new arm runs.
  const other = tiny
    .replace('name: tiny', 'name: other')
    .replace('label: narrow', 'label: eps-0.2')
    .replace('label: wide', 'label: eps-0.28')
    .replace('seeds: [1, 2]', '      - label: eps-0.3\n        overrides: { /trainer/objective/options/clipHigh: 0.3 }\nseeds: [1]')
    .replace('baseline: narrow', 'baseline: eps-0.2')
    .replace('better: wide, worse: narrow', 'better: eps-0.28, worse: eps-0.2');
  writeFileSync(join(dir, 'other-ablation.yaml'), other);
  const dry = mmrl(['ablate', join(dir, 'other-ablation.yaml'), '--out', out, '--reuse', out, '--dry-run']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.equal((dry.stdout.match(/reusable {2}eps-0\.2/g) ?? []).length, 2, dry.stdout);
  assert.match(dry.stdout, /to run {4}eps-0\.3-seed1-/);
  const reusing = mmrl(['ablate', join(dir, 'other-ablation.yaml'), '--out', out, '--reuse', out]);
  assert.equal(reusing.status, 0, reusing.stdout + reusing.stderr);
  assert.equal((reusing.stderr.match(/\(reused \//g) ?? []).length, 2, reusing.stderr);
  assert.equal((reusing.stderr.match(/ablate: start /g) ?? []).length, 1, reusing.stderr);
  const otherRuns = join(out, 'other', 'runs');
  for (const [label, arm] of [['eps-0.2', 'narrow'], ['eps-0.28', 'wide']] as const) {
    const copy = readdirSync(otherRuns).find((d) => d.startsWith(`${label}-seed1-`))!;
    const source = dirs.find((d) => d.startsWith(`${arm}-seed1-`))!;
    assert.equal(copy.slice(-10), source.slice(-10), 'same config, same hash');
    assert.deepEqual(readJson(join(otherRuns, copy, 'summary.json')), readJson(join(runsDir, source, 'summary.json')));
    const reusedRecord = readJson(join(otherRuns, copy, 'run.json'));
    assert.equal(reusedRecord.arm, label);
    assert.equal(reusedRecord.reusedFrom, join(runsDir, source));
  }
  const otherReport = readJson(join(out, 'other', 'report.json'));
  assert.deepEqual(otherReport.summary, { runs: 3, completed: 3, failed: 0, skipped: 2, reused: 2 });
  assert.match(readFileSync(join(out, 'other', 'report.md'), 'utf8'), /completed \(reused\)/);

  // 6. finalEval: the same runs (reused), each final checkpoint evaluated again by `mmrl eval` in <run>/final-eval/,
  // and the arms compared on that evaluation. On the runs' own 4 prompts it must give their own after-RL accuracy:
  // it evaluates the final checkpoint, greedily, on the same prompts.
  writeFileSync(join(dir, 'final-ablation.yaml'), `${tiny.replace('name: tiny', 'name: final')}finalEval: { prompts: 4 }\n`);
  const final = mmrl(['ablate', join(dir, 'final-ablation.yaml'), '--jobs', '2', '--out', out, '--reuse', ablationDir]);
  assert.equal(final.status, 0, final.stdout + final.stderr);
  assert.equal((final.stderr.match(/final evaluation of \S+: \d+\.\d%/g) ?? []).length, 4, final.stderr);
  const finalReport = readJson(join(out, 'final', 'report.json'));
  assert.deepEqual(finalReport.evaluation, { source: 'final-eval', prompts: 4 });
  assert.deepEqual(finalReport.summary, { runs: 4, completed: 4, failed: 0, skipped: 4, reused: 4 });
  const finalRuns = join(out, 'final', 'runs');
  for (const r of finalReport.runs) {
    const evaluated = readJson(join(out, 'final', r.dir, 'final-eval', 'eval.json'));
    assert.equal(evaluated.prompts, 4);
    assert.equal(r.heldOutAccuracy, evaluated.accuracy);
    assert.equal(r.runHeldOutAccuracy, readJson(join(out, 'final', r.dir, 'summary.json')).afterRl.accuracy);
    assert.equal(r.heldOutAccuracy, r.runHeldOutAccuracy, `${r.dir}: the final evaluation on the run's own prompts differs`);
  }
  const finalMd = readFileSync(join(out, 'final', 'report.md'), 'utf8');
  assert.match(finalMd, /evaluated on 4 held-out test prompts, the spec's `finalEval`/);
  assert.match(finalMd, /\| held-out accuracy \| run's own eval \| before RL \|/);
  // Again: the final evaluations on 4 prompts are kept, none runs.
  const finalAgain = mmrl(['ablate', join(dir, 'final-ablation.yaml'), '--out', out]);
  assert.equal(finalAgain.status, 0, finalAgain.stderr);
  assert.doesNotMatch(finalAgain.stderr, /final evaluation of/);
  // 7. A results archive (`mmrl archive`): the finished runs without checkpoints, their metrics gzipped. An ablation
  // with the same arms under another name takes them over by hash (--reuse <archive>) and reports the same numbers
  // without training or evaluating anything; `mmrl export` reads the archived metrics.
  const archive = join(dir, 'archive');
  const archiving = mmrl(['archive', join(out, 'final'), '--out', archive]);
  assert.equal(archiving.status, 0, archiving.stdout + archiving.stderr);
  assert.match(archiving.stdout, /4 finished runs archived to \S+archive \(\d+ kB, no checkpoints\)/);
  const archivedRuns = readdirSync(join(archive, 'runs')).sort();
  assert.deepEqual(archivedRuns, readdirSync(finalRuns).sort());
  const archivedBytes = new Map<string, Buffer>();
  for (const d of archivedRuns) {
    const a = join(archive, 'runs', d);
    assert.deepEqual(readdirSync(a).sort(), ['final-eval', 'metrics.jsonl.gz', 'run-config.json', 'run.json', 'summary.json'], d);
    assert.deepEqual(readdirSync(join(a, 'final-eval')), ['eval.json'], d);
    assert.equal(gunzipSync(readFileSync(join(a, 'metrics.jsonl.gz'))).toString('utf8'), readFileSync(join(finalRuns, d, 'metrics.jsonl'), 'utf8'));
    assert.equal(readFileSync(join(a, 'summary.json'), 'utf8'), readFileSync(join(finalRuns, d, 'summary.json'), 'utf8'));
    archivedBytes.set(d, readFileSync(join(a, 'metrics.jsonl.gz')));
  }
  assert.ok(existsSync(join(archive, 'report.json')) && existsSync(join(archive, 'report.md')));
  // Archiving again writes the same bytes (no timestamp in the gzip header): nothing new for git.
  assert.equal(mmrl(['archive', join(out, 'final'), '--out', archive]).status, 0);
  for (const d of archivedRuns) assert.ok(readFileSync(join(archive, 'runs', d, 'metrics.jsonl.gz')).equals(archivedBytes.get(d)!), d);
  writeFileSync(join(dir, 'again-ablation.yaml'), `${tiny.replace('name: tiny', 'name: again')}finalEval: { prompts: 4 }\n`);
  const fromArchive = mmrl(['ablate', join(dir, 'again-ablation.yaml'), '--out', out, '--reuse', archive]);
  assert.equal(fromArchive.status, 0, fromArchive.stdout + fromArchive.stderr);
  assert.doesNotMatch(fromArchive.stderr, /final evaluation of/);
  const againReport = readJson(join(out, 'again', 'report.json'));
  assert.deepEqual(againReport.summary, { runs: 4, completed: 4, failed: 0, skipped: 4, reused: 4 });
  for (const r of againReport.runs) {
    const original = finalReport.runs.find((o: { hash: string }) => o.hash === r.hash);
    for (const key of ['heldOutAccuracy', 'runHeldOutAccuracy', 'beforeRlAccuracy', 'finalReward', 'tokensPerSecond']) {
      assert.equal(r[key], original[key], `${r.dir}: ${key}`);
    }
    assert.notEqual(r.finalReward, null, `${r.dir}: the archived metrics were read`);
    assert.ok(!existsSync(join(out, 'again', r.dir, 'checkpoint')));
  }
  assert.deepEqual(againReport.claims, finalReport.claims);
  const exported = mmrl(['export', archive, '--out', join(dir, 'archive.csv')]);
  assert.equal(exported.status, 0, exported.stderr);
  assert.match(exported.stdout, /from 4 runs written to/);
  // Another number of final prompts: an archived run cannot be evaluated again, and the error says why.
  writeFileSync(join(dir, 'more-ablation.yaml'), `${tiny.replace('name: tiny', 'name: more')}finalEval: { prompts: 5 }\n`);
  const more = mmrl(['ablate', join(dir, 'more-ablation.yaml'), '--out', out, '--reuse', archive]);
  assert.equal(more.status, 1, more.stdout + more.stderr);
  assert.match(more.stderr, /a run from a results archive keeps no checkpoint; its archive holds no final evaluation on 5 prompts/);
  // An ablation directory without runs/ is refused with its path.
  const noRuns = mmrl(['archive', dir, '--out', join(dir, 'x')]);
  assert.equal(noRuns.status, 1);
  assert.match(noRuns.stderr, /no runs\/ directory \(expected an ablation directory written by mmrl ablate\)/);
  // A run without its final checkpoint: its final evaluation fails, the run counts as failed, the others stand.
  const lost = readdirSync(finalRuns).sort()[0]!;
  rmSync(join(finalRuns, lost, 'checkpoint'), { recursive: true });
  rmSync(join(finalRuns, lost, 'final-eval'), { recursive: true });
  const lostRun = mmrl(['ablate', join(dir, 'final-ablation.yaml'), '--out', out]);
  assert.equal(lostRun.status, 1, lostRun.stdout + lostRun.stderr);
  assert.match(lostRun.stderr, new RegExp(`final evaluation of ${lost}: no final checkpoint in \\S+checkpoint`));
  assert.deepEqual(readJson(join(out, 'final', 'report.json')).summary, { runs: 4, completed: 3, failed: 1, skipped: 4, reused: 0 });
  rmSync(dir, { recursive: true, force: true });
});
