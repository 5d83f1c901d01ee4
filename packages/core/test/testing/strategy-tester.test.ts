// core first: its entry loads reflect-metadata, which tsyringe needs when it is imported
import { defineStrategy, initBackend, inject, injectable, type StrategyDefinition } from '../../src/index.js';
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Type } from '@sinclair/typebox';
import { container as rootContainer } from 'tsyringe';
import {
  StrategyTester,
  assertPaddingInvariant,
  assertSplitInvariant,
  assertZeroWeightZeroGradient,
  declaredDefaults,
  padColumns,
} from '../../src/testing/index.js';

before(async () => {
  await initBackend('cpu');
});

const BetaOptions = Type.Object(
  {
    beta: Type.Number({ minimum: 0, maximum: 1, default: 0.5 }),
    mode: Type.Union([Type.Literal('a'), Type.Literal('b')], { default: 'a' }),
    nested: Type.Object({ k: Type.Integer({ default: 2 }) }, { default: {}, additionalProperties: false }),
    note: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

/** A well-formed strategy: `scale(x)` multiplies by beta. */
const scaler = defineStrategy({
  kind: 'token-weighter',
  name: 'scaler',
  optionsSchema: BetaOptions,
  docs: { summary: 'scales by beta' },
  create: (options) => ({ scale: (x: number[]) => x.map((v) => v * options.beta) }),
});

const withSchema = (optionsSchema: unknown, create: StrategyDefinition<any, any>['create'] = () => ({})) =>
  ({ kind: 'token-weighter', name: 'broken', optionsSchema, docs: { summary: 'x' }, create }) as StrategyDefinition<any, any>;

const tester = new StrategyTester();

describe('schema and defaults (a)', () => {
  test('a well-formed strategy passes every check and the completed defaults are returned', async () => {
    const { defaults } = await tester.run(scaler, {
      defaults: { beta: 0.5, mode: 'a', nested: { k: 2 } },
      invalid: [
        { options: { beta: 2 }, error: { path: '/beta', keyword: 'maximum' } },
        { options: { mode: 'c' }, error: { path: '/mode', keyword: 'anyOf' } },
        { options: { nested: { k: 1.5 } }, error: { path: '/nested/k', keyword: 'type' } },
        { options: { gamma: 1 }, error: { path: '/gamma', keyword: 'additionalProperties' } },
      ],
      numeric: [{ name: 'beta 0.25', options: { beta: 0.25 }, actual: (s) => s.scale([1, 2, 4]), expected: [0.25, 0.5, 1] }],
    });
    assert.deepEqual(defaults, { beta: 0.5, mode: 'a', nested: { k: 2 } });
    assert.deepEqual(declaredDefaults(BetaOptions), { beta: 0.5, mode: 'a', nested: { k: 2 } });
  });

  test('a broken schema is reported, naming the strategy', () => {
    const broken = [
      [{}, /token-weighter\/broken: options schema invalid: must be \{ type: "object"/],
      [{ type: 'object', properties: {} }, /additionalProperties: false/],
      [{ type: 'object', properties: { x: { type: 'number', minimum: 'zero' } }, additionalProperties: false }, /options schema invalid: .*minimum/],
      [{ type: 'object', properties: { x: { type: 'number', defualt: 1 } }, additionalProperties: false }, /ajv strict.*unknown keyword: "defualt"/],
    ] as const;
    for (const [schema, message] of broken) {
      assert.throws(() => tester.checkSchema(withSchema(schema)), (e: Error) => e.name === 'AssertionError' && message.test(e.message));
    }
  });

  test('an option without a default, and defaults that differ from the expected ones, are reported', () => {
    const noDefault = withSchema({ type: 'object', properties: { x: { type: 'number' } }, required: ['x'], additionalProperties: false });
    assert.throws(() => tester.checkSchema(noDefault), /\{\} with defaults is not valid .*\/x required/);
    assert.throws(() => tester.checkSchema(scaler, { beta: 0.4, mode: 'a', nested: { k: 2 } }), /does not give the expected defaults/);
  });

  test('an invalid case that is accepted, or refused for another reason, is reported', () => {
    assert.throws(
      () => tester.checkInvalidOptions(scaler, [{ options: { beta: 0.9 }, error: { keyword: 'maximum' } }]),
      /accepted invalid options \{"beta":0.9\}/,
    );
    assert.throws(
      () => tester.checkInvalidOptions(scaler, [{ options: { beta: -1 }, error: { path: '/beta', keyword: 'maximum' } }]),
      /no error matches .*got: \/beta minimum/,
    );
  });
});

const DEP_A = Symbol.for('mmrl.test.A');
const DEP_B = Symbol.for('mmrl.test.B');

/**
 * Applies tsyringe's decorators the way `@injectable() class { constructor(@inject(A) a, …) }` compiles with
 * experimentalDecorators (parameter decorators first, then the class decorator). Written out because tsx, started by
 * scripts/run-tests.mjs from the repository root, reads the root tsconfig.json, which does not enable
 * experimentalDecorators, so decorator syntax does not transform in test files.
 */
function decorate<C extends new (...args: any[]) => unknown>(ctor: C, tokens: Record<number, symbol>): C {
  for (const [index, token] of Object.entries(tokens)) inject(token)(ctor, undefined, Number(index));
  injectable()(ctor);
  return ctor;
}

describe('DI arity (c)', () => {
  test('a fully decorated class passes; a class with no parameters passes', () => {
    const Full = decorate(
      class Full {
        constructor(
          readonly a: number,
          readonly b: number,
        ) {}
      },
      { 0: DEP_A, 1: DEP_B },
    );
    tester.checkInjectionTokens(Full);
    tester.checkInjectionTokens(class Empty {});
    const child = rootContainer.createChildContainer();
    child.register(DEP_A, { useValue: 1 });
    child.register(DEP_B, { useValue: 2 });
    assert.deepEqual({ ...child.resolve(Full) }, { a: 1, b: 2 });
  });

  test('a partly decorated class (2 parameters, 1 @inject) fails, naming the undecorated parameter', () => {
    const Partial = decorate(
      class Partial {
        constructor(
          readonly a: number,
          readonly b: number,
        ) {}
      },
      { 1: DEP_B },
    );
    assert.throws(() => tester.checkInjectionTokens(Partial), /Partial has 2 parameter\(s\) but parameter\(s\) 0 carry no @inject/);
    // the trap the check exists for: tsyringe resolves it without any error, with a = undefined
    const child = rootContainer.createChildContainer();
    child.register(DEP_B, { useValue: 2 });
    assert.deepEqual({ ...child.resolve(Partial) }, { a: undefined, b: 2 });
  });

  test('run() checks useClass', async () => {
    const Partial = decorate(
      class Partial {
        constructor(
          readonly a: number,
          readonly b: number,
        ) {}
      },
      { 0: DEP_A },
    );
    await assert.rejects(tester.run(scaler, { useClass: Partial }), /token-weighter\/scaler: .*parameter\(s\) 1 carry no @inject/);
  });
});

describe('creation (d) and numeric cases (e)', () => {
  test('create gets a fresh child container, never the global one', async () => {
    const TOKEN = Symbol.for('mmrl.test.Value');
    let seen: unknown;
    const resolving = withSchema({ type: 'object', properties: {}, additionalProperties: false }, (_o, ctx) => {
      assert.notEqual(ctx.container, rootContainer);
      seen = ctx.container.resolve(TOKEN);
      return { seen };
    });
    await tester.checkCreate(resolving, { register: (c) => c.register(TOKEN, { useValue: 42 }) });
    assert.equal(seen, 42);
    assert.equal(rootContainer.isRegistered(TOKEN), false);
  });

  test('a create that leaks a tensor is reported; one that disposes it passes', async () => {
    const leaky = defineStrategy({
      kind: 'token-weighter',
      name: 'leaky',
      optionsSchema: BetaOptions,
      docs: { summary: 'leaks' },
      create: (options) => ({ table: tf.fill([2, 2], options.beta) }),
    });
    await assert.rejects(tester.checkCreate(leaky), /token-weighter\/leaky: create\/exercise\/dispose leaked 1 tensor\(s\)/);
    await tester.checkCreate(leaky, { dispose: (s) => s.table.dispose() });
    const tidy = { ...leaky, create: () => ({ t: tf.zeros([3]), dispose() { this.t.dispose(); } }) };
    await tester.run(tidy, {});
    await assert.rejects(
      tester.checkCreate(tidy, { exercise: (s) => void tf.add(s.t, 1) }),
      /leaked 1 tensor/,
    );
  });

  test('a numeric case off by more than the tolerance is reported with its name and index', async () => {
    await assert.rejects(
      tester.checkNumeric(scaler, [{ name: 'F0', actual: (s) => s.scale([1, 2]), expected: [0.5, 1.01] }]),
      /token-weighter\/scaler F0\[1\]: got 1, expected 1.01/,
    );
    await assert.rejects(
      tester.checkNumeric(scaler, [{ name: 'bad options', options: { beta: 3 }, actual: () => 0, expected: 0 }]),
      /options \{"beta":3\} invalid: \/beta maximum/,
    );
  });
});

describe('invariance helpers (f)', () => {
  const values = [[1, 2, 0], [3, 4, 5], [6, 0, 0]];
  const mask = [[1, 1, 0], [1, 1, 1], [1, 0, 0]];
  const totalTokens = 6;

  test('split invariance: global denominators pass, per-micro-batch means fail', async () => {
    const sumOver = (rows: readonly number[], den: number) =>
      rows.reduce((s, r) => s + values[r]!.reduce((a, v, t) => a + v * mask[r]![t]!, 0), 0) / den;
    await assertSplitInvariant({ rows: 3, evaluate: (rows) => sumOver(rows, totalTokens) });
    await assertSplitInvariant({ rows: 3, evaluate: (rows) => sumOver(rows, totalTokens), splits: [[[2, 0], [1]]] });
    await assert.rejects(
      assertSplitInvariant({
        rows: 3,
        evaluate: (rows) => sumOver(rows, rows.reduce((n, r) => n + mask[r]!.reduce((a, m) => a + m, 0), 0)),
      }),
      /split invariance \(sum over split/,
    );
    await assert.rejects(assertSplitInvariant({ rows: 3, evaluate: () => 0, splits: [[[0], [0, 1]]] }), /not a partition/);
  });

  test('padding invariance: a masked token mean passes, a mean over the padded length fails', async () => {
    const evaluate = (divideByLength: boolean) => async (extra: number) => {
      const v = padColumns(tf.tensor2d(values), extra, 7);
      const m = padColumns(tf.tensor2d(mask), extra);
      const den = divideByLength ? m.size : totalTokens;
      const out = tf.div(tf.sum(tf.mul(v, m)), den);
      const result = (await out.data())[0]!;
      tf.dispose([v, m, out]);
      return result;
    };
    await assertPaddingInvariant({ evaluate: evaluate(false) });
    await assert.rejects(assertPaddingInvariant({ evaluate: evaluate(true) }), /padding invariance \(1 padding column\(s\) vs none\)/);
  });

  test('zero weight ⇒ zero gradient: a token-local loss passes; leaking, coupled and constant losses fail', async () => {
    const logprobs = tf.tensor2d([[-0.1, -0.5], [-1, -2]]);
    const adv = tf.tensor2d([[1, -1], [0.5, 2]]);
    const before = tf.memory().numTensors;
    await assertZeroWeightZeroGradient({ logprobs, loss: (lp, m) => tf.neg(tf.mean(tf.mul(tf.mul(adv, m), tf.exp(lp)))) as tf.Scalar });
    await assert.rejects(
      assertZeroWeightZeroGradient({ logprobs, loss: (lp, m) => tf.add(tf.sum(tf.mul(m, lp)), tf.mul(0.1, tf.sum(lp))) }),
      /multiplier 0 everywhere, but the gradient at \[0, 0\] = -?0\.1/,
    );
    await assert.rejects(
      assertZeroWeightZeroGradient({ logprobs, loss: (lp, m) => tf.mul(tf.sum(m), tf.sum(lp)) as tf.Scalar }),
      /token with multiplier 0 has gradient \[0, 1\]/,
    );
    await assertZeroWeightZeroGradient({ logprobs, loss: (lp, m) => tf.mul(tf.sum(m), tf.sum(lp)) as tf.Scalar, tokenLocal: false });
    await assert.rejects(
      assertZeroWeightZeroGradient({ logprobs, loss: (lp) => tf.mul(tf.sum(lp), 0) as tf.Scalar }),
      /gradient is zero even with multiplier 1 \(the check proves nothing\)/,
    );
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([logprobs, adv]);
  });
});
