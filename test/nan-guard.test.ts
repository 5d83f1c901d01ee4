// A NaN/Inf loss or gradient skips the update: it is logged and never reaches the weights, nor Adam's moments or
// step count (applyGradients is never called with it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  GradientAccumulator,
  MetricsWriter,
  POLICY,
  POLICY_OBJECTIVE,
  RlTrainer,
  StrategyRegistry,
  createAdam,
  createRunContainer,
  initBackend,
  loadConfigFile,
  optimizerStep,
  type LossFunction,
  type ObjectiveInput,
  type PolicyObjective,
} from '@mmrl/core';
import builtins from '@mmrl/plugins';
import { ROOT } from './helpers.js';

/** Every applyGradients call of any Adam, with whether all its gradients were finite. */
const calls: { finite: boolean }[] = [];
const original = tf.AdamOptimizer.prototype.applyGradients;

before(async () => {
  await initBackend('wasm');
  tf.AdamOptimizer.prototype.applyGradients = function (this: tf.AdamOptimizer, grads) {
    const list = Array.isArray(grads) ? grads.map((g) => g.tensor) : Object.values(grads);
    const finite = list.every((t) => t == null || Array.from(t.dataSync()).every(Number.isFinite));
    calls.push({ finite });
    return original.call(this, grads);
  };
});

after(() => {
  tf.AdamOptimizer.prototype.applyGradients = original;
});

async function snapshot(variables: tf.Variable[], optimizer: tf.Optimizer): Promise<number[][]> {
  const weights = await optimizer.getWeights();
  return [...variables, ...weights.map((w) => w.tensor)].map((t) => Array.from(t.dataSync()));
}

test('optimizer: NaN loss, finite loss with NaN gradient, and one Inf micro-batch all leave weights and Adam state bit-identical', async (t) => {
  const warn = t.mock.method(console, 'warn', () => {});
  const vars = [tf.variable(tf.randomNormal([4, 3], 0, 1, 'float32', 1)), tf.variable(tf.randomNormal([3], 0, 1, 'float32', 2))];
  const x = tf.randomNormal([5, 4], 0, 1, 'float32', 3);
  const good: LossFunction = () => ({
    loss: tf.mean(tf.square(tf.add(tf.matMul(x, vars[0]!), vars[1]!))) as tf.Scalar,
    metrics: {},
  });
  const optimizer = createAdam(0.01);
  for (let i = 0; i < 2; i++) assert.equal((await optimizerStep(optimizer, vars, good, 1)).skipped, false);
  const before = await snapshot(vars, optimizer);
  const callsBefore = calls.length;

  const nanLoss: LossFunction = () => ({ loss: tf.mul(good().loss, NaN) as tf.Scalar, metrics: {} });
  // sqrt(0·Σw²) = 0, but its gradient is 0.5/sqrt(0)·0 = NaN.
  const nanGrad: LossFunction = () => ({ loss: tf.sqrt(tf.mul(tf.sum(tf.square(vars[0]!)), 0)) as tf.Scalar, metrics: {} });
  const r1 = await optimizerStep(optimizer, vars, nanLoss, 1);
  assert.ok(r1.skipped && Number.isNaN(r1.loss));
  const r2 = await optimizerStep(optimizer, vars, nanGrad, 1);
  assert.ok(r2.skipped && r2.loss === 0 && !Number.isFinite(r2.gradNorm));
  const acc = new GradientAccumulator(vars);
  acc.add(good);
  acc.add(() => ({ loss: tf.mul(good().loss, Infinity) as tf.Scalar, metrics: {} }));
  acc.add(good);
  assert.equal((await acc.apply(optimizer, 1)).skipped, true);
  // No clipping (maxGradNorm 0) either.
  assert.equal((await optimizerStep(optimizer, vars, nanLoss, 0)).skipped, true);

  assert.equal(calls.length, callsBefore, 'applyGradients was called for a non-finite update');
  assert.deepEqual(await snapshot(vars, optimizer), before);
  assert.equal(optimizer.iterations, 2);
  // The trainer warns; optimizerStep itself only reports.
  assert.equal(warn.mock.callCount(), 0);
  // And the next finite update still applies.
  assert.equal((await optimizerStep(optimizer, vars, good, 1)).skipped, false);
  assert.equal(calls.length, callsBefore + 1);
  optimizer.dispose();
  tf.dispose([x, ...vars]);
});

test('trainer: a NaN objective skips every update of the step, logs skipped_updates and a warning, weights and optimizer state untouched', async (t) => {
  const warnings: string[] = [];
  t.mock.method(console, 'warn', (m: string) => warnings.push(m));
  const registry = new StrategyRegistry().use(builtins);
  const { config, baseDir } = await loadConfigFile(registry, join(ROOT, 'test/fixtures/tiny.yaml'));
  config.trainer.steps = 2;
  config.trainer.maxResponseTokens = 8;
  config.trainer.checkpointEvery = 1;
  const container = await createRunContainer(registry, config, { baseDir });
  const inner = container.resolve(POLICY_OBJECTIVE);
  let poison = false;
  const objective: PolicyObjective = {
    needsReference: inner.needsReference,
    loss(input: ObjectiveInput) {
      const out = inner.loss(input);
      if (!poison) return out;
      return { loss: tf.mul(out.loss, NaN) as tf.Scalar, metrics: out.metrics };
    },
  };
  container.register(POLICY_OBJECTIVE, { useValue: objective });
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-nan-'));
  const checkpointDir = join(dir, 'checkpoint');
  const file = join(dir, 'metrics.jsonl');
  let applied = 0;
  const summary = await new RlTrainer(container, {
    metrics: new MetricsWriter(file),
    checkpointDir,
    onProgress: (e) => {
      if (e.step === 1) {
        // After step 0 (2 real updates) and its checkpoint: keep a copy, then poison step 1.
        cpSync(checkpointDir, join(dir, 'after-step-1'), { recursive: true });
        applied = calls.length;
        poison = true;
      }
    },
  }).train();
  assert.equal(summary.skippedUpdates, 2);
  assert.equal(calls.length, applied, 'applyGradients was called during the poisoned step');
  assert.ok(calls.every((c) => c.finite));
  const rows = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(rows.map((r) => r.skipped_updates), [0, 2]);
  assert.equal(warnings.filter((w) => /non-finite loss or gradient.*update skipped/.test(w)).length, 2);
  // Weights and every optimizer slot (moments and step count) are bit-identical to the checkpoint before the step.
  for (const part of ['policy', 'optimizer', 'reference']) {
    const a = readFileSync(join(dir, 'after-step-1', part, 'weights.bin'));
    const b = readFileSync(join(checkpointDir, part, 'weights.bin'));
    assert.ok(a.equals(b), `${part} changed during the skipped step`);
  }
  const optimizerManifest = (p: string) => JSON.parse(readFileSync(join(p, 'optimizer', 'manifest.json'), 'utf8'));
  assert.deepEqual(optimizerManifest(checkpointDir), optimizerManifest(join(dir, 'after-step-1')));
  assert.ok(container.resolve(POLICY).trainableVariables.every((v) => Array.from(v.dataSync()).every(Number.isFinite)));
});
