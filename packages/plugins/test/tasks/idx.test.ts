import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  encodeIdx,
  IDX_IMAGES_MAGIC,
  IDX_LABELS_MAGIC,
  IdxFormatError,
  loadFashionMnist,
  readIdxImages,
  readIdxLabels,
} from '../../src/tasks/idx.js';

function withTempDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmrl-idx-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const pixels = Uint8Array.from({ length: 3 * 2 * 4 }, (_, i) => (i * 11) % 256);
const labels = Uint8Array.from([7, 0, 9]);

test(
  'gzipped and plain IDX files round-trip',
  withTempDir(async (dir) => {
    const gz = join(dir, 'images.gz');
    const plain = join(dir, 'images');
    writeFileSync(gz, gzipSync(encodeIdx(IDX_IMAGES_MAGIC, [3, 2, 4], pixels)));
    writeFileSync(plain, encodeIdx(IDX_IMAGES_MAGIC, [3, 2, 4], pixels));
    for (const file of [gz, plain]) {
      const images = await readIdxImages(file);
      assert.deepEqual([images.count, images.rows, images.cols], [3, 2, 4]);
      assert.deepEqual([...images.pixels], [...pixels]);
    }
    const labelsFile = join(dir, 'labels.gz');
    writeFileSync(labelsFile, gzipSync(encodeIdx(IDX_LABELS_MAGIC, [3], labels)));
    assert.deepEqual([...(await readIdxLabels(labelsFile))], [7, 0, 9]);
  }),
);

test(
  'truncated image data fails naming the file and the byte offset',
  withTempDir(async (dir) => {
    const file = join(dir, 'short-images.gz');
    const full = encodeIdx(IDX_IMAGES_MAGIC, [3, 2, 4], pixels); // 16-byte header + 24 bytes
    writeFileSync(file, gzipSync(full.subarray(0, 30)));
    await assert.rejects(readIdxImages(file), (err: unknown) => {
      assert.ok(err instanceof IdxFormatError);
      assert.equal(err.file, file);
      assert.equal(err.offset, 30);
      assert.match(err.message, new RegExp(`^file ${file}: truncated at byte 30: expected 24 bytes of image data`));
      return true;
    });
  }),
);

test(
  'truncated header fails with the byte offset',
  withTempDir(async (dir) => {
    const file = join(dir, 'header');
    writeFileSync(file, encodeIdx(IDX_IMAGES_MAGIC, [3, 2, 4], pixels).subarray(0, 10));
    await assert.rejects(readIdxImages(file), /^IdxFormatError: file .*header: truncated at byte 10: expected a 16-byte header/);
  }),
);

test(
  'a bad magic number fails naming the file and byte 0',
  withTempDir(async (dir) => {
    const file = join(dir, 'labels-as-images.gz');
    writeFileSync(file, gzipSync(encodeIdx(IDX_LABELS_MAGIC, [3], labels)));
    await assert.rejects(readIdxImages(file), (err: unknown) => {
      assert.ok(err instanceof IdxFormatError);
      assert.equal(err.offset, 0);
      assert.ok(err.message.includes(file), err.message);
      assert.match(err.message, /bad magic number 0x00000801 at byte 0: expected 0x00000803/);
      return true;
    });
  }),
);

test(
  'corrupt and truncated gzip streams fail naming the file',
  withTempDir(async (dir) => {
    const good = gzipSync(encodeIdx(IDX_IMAGES_MAGIC, [3, 2, 4], pixels));
    const corrupt = Buffer.from(good);
    for (let i = 10; i < corrupt.length - 8; i++) corrupt[i] = 0xff;
    const cases = { 'corrupt.gz': corrupt, 'cut.gz': good.subarray(0, good.length - 12) };
    for (const [name, bytes] of Object.entries(cases)) {
      const file = join(dir, name);
      writeFileSync(file, bytes);
      await assert.rejects(readIdxImages(file), (err: unknown) => {
        assert.ok(err instanceof IdxFormatError);
        assert.match(err.message, new RegExp(`^file ${file}: corrupt or truncated gzip data`));
        return true;
      });
    }
  }),
);

test(
  'a missing file is an IdxFormatError naming it',
  withTempDir(async (dir) => {
    await assert.rejects(readIdxLabels(join(dir, 'nope.gz')), (err: unknown) => {
      assert.ok(err instanceof IdxFormatError);
      assert.ok(err.message.includes(join(dir, 'nope.gz')));
      return true;
    });
  }),
);

function writeSplit(dir: string, prefix: string, n: number, nLabels = n): void {
  const img = Uint8Array.from({ length: n * 784 }, (_, i) => i % 251);
  const lab = Uint8Array.from({ length: nLabels }, (_, i) => i % 10);
  writeFileSync(join(dir, `${prefix}-images-idx3-ubyte.gz`), gzipSync(encodeIdx(IDX_IMAGES_MAGIC, [n, 28, 28], img)));
  writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdx(IDX_LABELS_MAGIC, [nLabels], lab));
}

test(
  'loadFashionMnist reads both splits (gzipped or plain) and checks counts',
  withTempDir(async (dir) => {
    writeSplit(dir, 'train', 20);
    writeSplit(dir, 't10k', 10);
    const data = await loadFashionMnist(dir);
    assert.equal(data.train.images.count, 20);
    assert.equal(data.train.labels.length, 20);
    assert.equal(data.test.images.count, 10);
    assert.equal(data.test.labels[3], 3);

    writeSplit(dir, 't10k', 10, 9);
    await assert.rejects(loadFashionMnist(dir), (err: unknown) => {
      assert.ok(err instanceof IdxFormatError);
      assert.match(err.message, /t10k-labels-idx1-ubyte: has 9 labels but .*t10k-images-idx3-ubyte\.gz has 10 images/);
      return true;
    });
  }),
);
