import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHECKPOINT_MANIFEST, CHECKPOINT_WEIGHTS, readCheckpoint, writeCheckpoint, type CheckpointManifest } from '../../src/index.js';

const contents = (scale: number) => ({
  format: 'test-format',
  version: 3,
  architecture: { width: 2 },
  vocabulary: ['<pad>', 'a'],
  tensors: [
    { name: 'w', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6].map((x) => x * scale)) },
    { name: 'b', shape: [3], data: Float32Array.from([-1.5, 0, 1e-8]) },
  ],
});

test('write → read round trip; manifest lists offsets; weights.bin is little-endian float32', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mmrl-ckpt-'));
  const dir = join(root, 'nested', 'ckpt');
  await writeCheckpoint(dir, contents(1));
  const manifest = JSON.parse(await readFile(join(dir, CHECKPOINT_MANIFEST), 'utf8')) as CheckpointManifest;
  assert.equal(manifest.format, 'test-format');
  assert.equal(manifest.version, 3);
  assert.deepEqual(manifest.architecture, { width: 2 });
  assert.deepEqual(manifest.vocabulary, ['<pad>', 'a']);
  assert.deepEqual(manifest.tensors, [
    { name: 'w', shape: [2, 3], dtype: 'float32', offset: 0, byteLength: 24 },
    { name: 'b', shape: [3], dtype: 'float32', offset: 24, byteLength: 12 },
  ]);
  const bytes = await readFile(join(dir, CHECKPOINT_WEIGHTS));
  assert.equal(bytes.length, 36);
  assert.equal(new DataView(bytes.buffer, bytes.byteOffset).getFloat32(24, true), -1.5);
  const { tensors } = await readCheckpoint(dir, 'test-format');
  assert.deepEqual(Array.from(tensors.get('w')!.data), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(tensors.get('b')!.shape, [3]);
  assert.equal(tensors.get('b')!.data[2], Math.fround(1e-8));
  await rm(root, { recursive: true });
});

test('writing over an existing checkpoint replaces it and leaves no temporary directories', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mmrl-ckpt-'));
  const dir = join(root, 'ckpt');
  await writeCheckpoint(dir, contents(1));
  await writeCheckpoint(dir, contents(2));
  const { tensors } = await readCheckpoint(dir);
  assert.deepEqual(Array.from(tensors.get('w')!.data), [2, 4, 6, 8, 10, 12]);
  assert.deepEqual(await readdir(root), ['ckpt']);
  await rm(root, { recursive: true });
});

test('errors name the path: missing directory, wrong format, short weights, bad data length', async () => {
  const root = await mkdtemp(join(tmpdir(), 'mmrl-ckpt-'));
  const missing = join(root, 'nope');
  await assert.rejects(readCheckpoint(missing), (e: Error) => e.message.includes(missing));
  const dir = join(root, 'ckpt');
  await writeCheckpoint(dir, contents(1));
  await assert.rejects(readCheckpoint(dir, 'other'), /format "test-format", expected "other"/);
  const bad = contents(1);
  bad.tensors[0]!.shape = [4, 4];
  await assert.rejects(writeCheckpoint(join(root, 'bad'), bad), /"w" has 6 values for shape \[4, 4\]/);
  assert.deepEqual((await readdir(root)).sort(), ['ckpt'], 'a failed write leaves nothing behind');
  await rm(root, { recursive: true });
});
