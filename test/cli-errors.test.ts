import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mmrl, ROOT } from './helpers.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'mmrl-cli-'));

test('mmrl validate accepts the demo config', () => {
  const r = mmrl(['validate', join(ROOT, 'examples/configs/demo.yaml')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /valid/);
});

test('mmrl validate on a broken config names the pointer and exits 1', () => {
  const dir = tmp();
  const file = join(dir, 'broken.yaml');
  const text = readFileSync(join(ROOT, 'examples/configs/demo.yaml'), 'utf8')
    .replace('name: grpo', 'name: gpro')
    .replace('clipLow: 0.2', 'clipLow: high');
  writeFileSync(file, text);
  const r = mmrl(['validate', file]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /\/trainer\/advantage\/name \(.*broken\.yaml:\d+:\d+\): unknown advantage-estimator "gpro"; did you mean "grpo"\?/);
  assert.match(r.stderr, /\/trainer\/objective\/options\/clipLow .*must be number/);
  assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack trace
});

test('a bad --threads names the flag and the accepted values and exits 1', () => {
  const r = mmrl(['train', join(ROOT, 'test/fixtures/tiny.yaml'), '--threads', '12', '--out', tmp()]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--threads must be auto or an integer from 1 to 8, got "12"/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('a missing checkpoint names the path and exits 1', () => {
  const missing = join(tmp(), 'no-such-checkpoint');
  const r = mmrl(['eval', join(ROOT, 'test/fixtures/tiny.yaml'), '--checkpoint', missing, '--out', tmp()]);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(missing), r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('a truncated IDX file names the file and the byte offset and exits 1', () => {
  const dir = tmp();
  const data = join(dir, 'data');
  mkdirSync(data);
  const src = join(ROOT, 'examples/data/fashion-mnist');
  for (const f of ['train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']) {
    copyFileSync(join(src, f), join(data, f));
  }
  // A raw (not gzipped) image file cut in the middle of the pixel data.
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x803, 0);
  header.writeUInt32BE(3000, 4);
  header.writeUInt32BE(28, 8);
  header.writeUInt32BE(28, 12);
  writeFileSync(join(data, 'train-images-idx3-ubyte.gz'), Buffer.concat([header, Buffer.alloc(1000)]));
  const config = join(dir, 'c.yaml');
  writeFileSync(
    config,
    readFileSync(join(ROOT, 'test/fixtures/tiny.yaml'), 'utf8').replace('options: { slots: 2 }', `options: { slots: 2, dataDir: ${JSON.stringify(data)} }`),
  );
  const r = mmrl(['eval', config, '--out', dir]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /train-images-idx3-ubyte\.gz.*truncated at byte \d+/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('mmrl plugins --json lists kinds, names and option schemas', () => {
  const r = mmrl(['plugins', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const listing = JSON.parse(r.stdout);
  const names = Object.fromEntries(listing.kinds.map((k: any) => [k.kind, k.strategies.map((s: any) => s.id)]));
  assert.ok(names['advantage-estimator'].includes('grpo'));
  assert.ok(names['policy'].includes('vlm'));
  const grpo = listing.kinds.find((k: any) => k.kind === 'advantage-estimator').strategies.find((s: any) => s.id === 'grpo');
  assert.equal(grpo.optionsSchema.properties.epsilon.default, 1e-6);
});

test('--help works for every command', () => {
  for (const cmd of [[], ['demo'], ['sft'], ['train'], ['eval'], ['validate'], ['plugins'], ['schema']]) {
    const r = mmrl([...cmd, '--help']);
    assert.equal(r.status, 0, `${cmd.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /Usage: mmrl/);
  }
});
