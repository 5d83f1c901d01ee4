// The example third-party package examples/plugin-vppo through the CLI: listed, its example config valid, and 2 RL
// steps of a tiny run with the vppo/vppo weighter (which needs the policy and batch the trainer hands to weighters).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mmrl, ROOT, tinyPluginConfig } from './helpers.js';

const PACKAGE = join(ROOT, 'examples/plugin-vppo');
const dir = mkdtempSync(join(tmpdir(), 'mmrl-vppo-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('mmrl plugins --plugin <package directory> lists vppo/vppo with its defaults', () => {
  const r = mmrl(['plugins', '--json', '--kind', 'token-weighter', '--plugin', './examples/plugin-vppo']);
  assert.equal(r.status, 0, r.stderr);
  const listing = JSON.parse(r.stdout);
  const vppo = listing.kinds[0].strategies.find((s: { id: string }) => s.id === 'vppo/vppo');
  assert.ok(vppo, r.stdout);
  assert.equal(vppo.plugin, 'mmrl-plugin-vppo');
  assert.equal(vppo.optionsSchema.properties.topTokenFraction.default, 0.4);
  assert.equal(vppo.optionsSchema.properties.betaMin.default, 0.9);
});

test('examples/configs/vppo.yaml validates with its plugins entry', () => {
  const r = mmrl(['validate', 'examples/configs/vppo.yaml']);
  assert.equal(r.status, 0, r.stderr);
});

test('mmrl train runs 2 steps with vppo/vppo from the package directory', () => {
  const config = join(dir, 'vppo.json');
  writeFileSync(
    config,
    JSON.stringify(
      tinyPluginConfig({
        plugins: [PACKAGE],
        seed: 3,
        samples: 3,
        weighters: [{ name: 'vppo/vppo' }],
        objectiveOptions: { aggregation: 'token-mean' },
      }),
    ),
  );
  const r = mmrl(['train', config, '--out', join(dir, 'runs'), '--name', 'run', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const rows = readFileSync(join(dir, 'runs', 'run', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((row) => row.phase === 'rl');
  assert.deepEqual(
    rows.map((row) => row.step),
    [0, 1],
  );
  const recorded = JSON.parse(readFileSync(join(dir, 'runs', 'run', 'config.json'), 'utf8'));
  assert.equal(recorded.versions['mmrl-plugin-vppo'], '0.1.0');
  assert.equal(recorded.config.trainer.weighters[0].options.topTokenFraction, 0.4);
});
