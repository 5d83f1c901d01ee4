import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  StrategyRegistry,
  validateConfig,
  loadConfigFile,
  MmrlConfigError,
  checkRequirements,
  createRunContainer,
  TRAJECTORY_SOURCE,
  ADVANTAGE_ESTIMATOR,
} from '../../src/index.js';
import { fakePlugin, validConfig } from '../fake-plugin.js';

const registry = new StrategyRegistry().use(fakePlugin());

function issues(config: unknown): { pointer: string; message: string }[] {
  try {
    validateConfig(registry, config);
  } catch (e) {
    assert.ok(e instanceof MmrlConfigError, String(e));
    return e.issues;
  }
  assert.fail('config was accepted');
}

test('a valid config gets every default filled in', () => {
  const c = validateConfig(registry, validConfig());
  assert.equal(c.runtime.backend, 'auto');
  assert.equal(c.runtime.threads, 'auto');
  assert.equal(c.trainer.steps, 100);
  assert.deepEqual(c.task.options, { beta: 0.5 });
  assert.deepEqual(c.policy.options, { beta: 0.1 });
  assert.deepEqual(c.trainer.sources[0]!.options, { beta: 0.5 });
  assert.deepEqual(c.trainer.weighters, []);
  assert.equal(c.eval.prompts, 300);
});

test('an unknown strategy name gets "did you mean"', () => {
  const c = validConfig();
  c.trainer.advantage.name = 'gpro';
  const found = issues(c);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.equal(found[0]!.pointer, '/trainer/advantage/name');
  assert.match(found[0]!.message, /unknown advantage-estimator "gpro"; did you mean "grpo"\?/);
});

test('trainer.dynamicSampling.rule: default range; not-all-equal accepted; anything else reported at its pointer', () => {
  const c = validateConfig(registry, validConfig());
  assert.equal(c.trainer.dynamicSampling.rule, 'range');
  assert.equal(c.trainer.dynamicSampling.enabled, false);
  const nae = validConfig() as { trainer: Record<string, unknown> };
  nae.trainer['dynamicSampling'] = { enabled: true, rule: 'not-all-equal' };
  assert.equal(validateConfig(registry, nae).trainer.dynamicSampling.rule, 'not-all-equal');
  const bad = validConfig() as { trainer: Record<string, unknown> };
  bad.trainer['dynamicSampling'] = { enabled: true, rule: 'all-equal' };
  const found = issues(bad);
  assert.ok(found.length > 0 && found.every((i) => i.pointer === '/trainer/dynamicSampling/rule'), JSON.stringify(found));
});

test('trainer.lrSchedule: absent stays absent (hash-stable); defaults filled inside; bad values at their pointers', () => {
  assert.equal(validateConfig(registry, validConfig()).trainer.lrSchedule, undefined);
  const cos = validConfig() as { trainer: Record<string, unknown> };
  cos.trainer['lrSchedule'] = { name: 'cosine' };
  assert.deepEqual(validateConfig(registry, cos).trainer.lrSchedule, { name: 'cosine', warmupSteps: 0, minRatio: 0 });
  const bad = validConfig() as { trainer: Record<string, unknown> };
  bad.trainer['lrSchedule'] = { name: 'linear', minRatio: 1.5 };
  assert.ok(issues(bad).some((i) => i.pointer === '/trainer/lrSchedule/minRatio' && /<= 1/.test(i.message)));
  // A warm-up that takes every RL step leaves a decaying schedule nothing to decay over.
  const long = validConfig() as { trainer: Record<string, unknown> };
  long.trainer['steps'] = 10;
  long.trainer['lrSchedule'] = { name: 'cosine', warmupSteps: 10 };
  const found = issues(long);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.equal(found[0]!.pointer, '/trainer/lrSchedule/warmupSteps');
  assert.match(found[0]!.message, /10 warm-up steps leave none of trainer\.steps = 10 for the cosine decay/);
  long.trainer['lrSchedule'] = { name: 'constant', warmupSteps: 10 };
  assert.equal(validateConfig(registry, long).trainer.lrSchedule?.name, 'constant');
});

test('a wrong type is reported at its JSON pointer', () => {
  const c = validConfig() as any;
  c.trainer.advantage.options = { beta: 'high' };
  const found = issues(c);
  assert.ok(found.some((i) => i.pointer === '/trainer/advantage/options/beta' && /must be number/.test(i.message)), JSON.stringify(found));
});

test('an out-of-range value is reported at its JSON pointer', () => {
  const c = validConfig() as any;
  c.trainer.sources[0].options = { beta: 2 };
  const found = issues(c);
  assert.ok(found.some((i) => i.pointer === '/trainer/sources/0/options/beta' && /<= 1/.test(i.message)), JSON.stringify(found));
});

test('an unknown key is reported with a suggestion', () => {
  const c = validConfig() as any;
  c.trainer.promptsPerStp = 4;
  c.policy.options = { bta: 0.2 };
  const found = issues(c);
  assert.ok(found.some((i) => i.pointer === '/trainer/promptsPerStp' && /did you mean "promptsPerStep"/.test(i.message)), JSON.stringify(found));
  assert.ok(found.some((i) => i.pointer === '/policy/options/bta' && /did you mean "beta"/.test(i.message)), JSON.stringify(found));
});

test('a missing slot is reported', () => {
  const c = validConfig() as any;
  delete c.trainer.objective;
  assert.ok(issues(c).some((i) => i.pointer === '/trainer/objective' && /required/.test(i.message)));
});

test('YAML files: errors carry file:line:column', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-config-'));
  const file = join(dir, 'run.yaml');
  writeFileSync(
    file,
    ['task: { name: shelf }', 'policy: { name: vlm }', 'reward: { name: boxed-accuracy }', 'trainer:', '  sources: [{ name: on-policy }]', '  advantage:', '    name: grpo', '    options: { beta: 7 }', '  objective: { name: ppo-clip }', ''].join('\n'),
  );
  await assert.rejects(loadConfigFile(registry, file), (e: unknown) => {
    assert.ok(e instanceof MmrlConfigError);
    assert.match(e.message, /\/trainer\/advantage\/options\/beta \(.*run\.yaml:8:22\): must be <= 1/);
    return true;
  });
  writeFileSync(file, 'task: [unclosed\n');
  await assert.rejects(loadConfigFile(registry, file), /run\.yaml:\d+:\d+\): syntax error/);
  await assert.rejects(loadConfigFile(registry, join(dir, 'missing.yaml')), /cannot read config file/);
});

test('a requirement nothing provides is refused before anything is built, naming the strategy', async () => {
  const c = validateConfig(registry, { ...validConfig(), trainer: { ...validConfig().trainer, weighters: [{ name: 'visual-focus' }] } });
  assert.throws(() => checkRequirements(registry, c), /token-weighter "visual-focus" \(\/trainer\/weighters\/0\) requires "hiddenStates"/);
  await assert.rejects(createRunContainer(registry, c, { baseDir: '.' }), /requires "hiddenStates"/);
});

test('the run container builds each strategy in a fresh child container', async () => {
  const c = validateConfig(registry, validConfig());
  const a = await createRunContainer(registry, c, { baseDir: '.' });
  const b = await createRunContainer(registry, c, { baseDir: '.' });
  assert.notEqual(a.resolve(ADVANTAGE_ESTIMATOR), b.resolve(ADVANTAGE_ESTIMATOR));
  assert.equal(a.resolveAll(TRAJECTORY_SOURCE).length, 1);
});

test('runtime.threads: auto or 1 to 8 wasm threads, anything else at /runtime/threads', () => {
  for (const threads of [1, 8, 'auto']) {
    const c = validConfig() as any;
    c.runtime = { threads };
    assert.equal(validateConfig(registry, c).runtime.threads, threads);
  }
  for (const threads of [0, 9, 2.5, 'all']) {
    const c = validConfig() as any;
    c.runtime = { threads };
    const found = issues(c);
    assert.ok(found.length > 0 && found.every((i) => i.pointer === '/runtime/threads'), JSON.stringify(found));
  }
});
