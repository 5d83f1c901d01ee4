import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { StrategyRegistry, PLUGIN_API_VERSION, definePlugin, defineStrategy } from '../../src/index.js';
import { fakePlugin, fakeStrategy } from '../fake-plugin.js';

test('registers a plugin and lists its strategies by kind', () => {
  const r = new StrategyRegistry().use(fakePlugin());
  assert.deepEqual(r.names('advantage-estimator'), ['grpo', 'dr-grpo']);
  assert.equal(r.get('advantage-estimator', 'grpo').owner.name, 'fake-plugin');
});

test('a duplicate id throws naming both owners, and registers nothing of the second plugin', () => {
  const r = new StrategyRegistry().use(fakePlugin('first-plugin'));
  assert.throws(
    () => r.use(fakePlugin('second-plugin')),
    /Duplicate strategy id "task\/shelf": registered by plugin "first-plugin" and again by plugin "second-plugin"/,
  );
  assert.equal(r.listPlugins().length, 1);
});

test('namespaced plugins get namespace/name ids and do not clash with built-ins', () => {
  const r = new StrategyRegistry().use(fakePlugin()).use(fakePlugin('mmrl-plugin-x', 'acme'));
  assert.ok(r.has('advantage-estimator', 'acme/grpo'));
  assert.ok(r.has('advantage-estimator', 'grpo'));
});

test('an invalid options schema is refused, naming the strategy', () => {
  const bad = definePlugin({
    meta: { name: 'bad-plugin', version: '1.0.0', namespace: '', apiVersion: '^1.0.0' },
    strategies: [
      defineStrategy({
        kind: 'token-weighter',
        name: 'broken',
        optionsSchema: Type.Object({ x: Type.Number({ minimum: 'zero' as unknown as number }) }, { additionalProperties: false }),
        docs: { summary: 'broken' },
        create: () => ({}),
      }),
    ],
  });
  assert.throws(() => new StrategyRegistry().use(bad), /Plugin "bad-plugin" strategy "token-weighter\/broken": options schema invalid/);
  const open = definePlugin({
    meta: { name: 'open-plugin', version: '1.0.0', namespace: '', apiVersion: '^1.0.0' },
    strategies: [{ ...fakeStrategy('token-weighter', 'open'), optionsSchema: Type.Object({}) }],
  });
  assert.throws(() => new StrategyRegistry().use(open), /"token-weighter\/open": options schema invalid: .*additionalProperties: false/);
});

test('an apiVersion mismatch is refused', () => {
  const p = fakePlugin();
  assert.throws(
    () => new StrategyRegistry().use({ ...p, meta: { ...p.meta, apiVersion: '^2.0.0' } }),
    new RegExp(`needs mmrl plugin API \\^2.0.0, but @mmrl/core implements ${PLUGIN_API_VERSION}`),
  );
});

test('an unknown id suggests the closest one', () => {
  const r = new StrategyRegistry().use(fakePlugin());
  assert.throws(() => r.get('advantage-estimator', 'gpro'), /did you mean "grpo"/);
});
