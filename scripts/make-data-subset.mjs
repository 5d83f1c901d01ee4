#!/usr/bin/env node
// Regenerates the class-balanced Fashion-MNIST subset committed in examples/data/fashion-mnist from the full set
// shipped by the Debian package `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist/*.gz).
//
//   node scripts/make-data-subset.mjs [--source DIR] [--out DIR] [--train-per-class N] [--test-per-class N]
//
// Selection: for each split and each class 0..9, the first N images of that class in the original file order;
// the selected images keep their original relative order. The output is gzipped IDX with the original file names
// and formats (images: magic 0x00000803, dims [n, 28, 28]; labels: magic 0x00000801, dims [n]). The script prints
// the SHA-256 of every decompressed output file (the gzip bytes may differ across zlib versions; the IDX content
// does not).
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gunzipSync, gzipSync, constants } from 'node:zlib';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';

const args = parseArgs(process.argv.slice(2), {
  source: '/usr/share/datasets/fashion-mnist',
  out: 'examples/data/fashion-mnist',
  'train-per-class': '300',
  'test-per-class': '100',
});
const source = resolve(args.source);
const out = resolve(args.out);
const perClass = { train: toCount(args['train-per-class']), t10k: toCount(args['test-per-class']) };

mkdirSync(out, { recursive: true });
for (const prefix of ['train', 't10k']) {
  const imagesName = `${prefix}-images-idx3-ubyte.gz`;
  const labelsName = `${prefix}-labels-idx1-ubyte.gz`;
  const images = readIdx(join(source, imagesName), 0x00000803);
  const labels = readIdx(join(source, labelsName), 0x00000801);
  const n = labels.dims[0];
  if (images.dims[0] !== n) fail(`${imagesName} has ${images.dims[0]} images but ${labelsName} has ${n} labels`);
  const [rows, cols] = [images.dims[1], images.dims[2]];
  const size = rows * cols;

  const want = perClass[prefix];
  const taken = new Array(10).fill(0);
  const picked = [];
  for (let i = 0; i < n; i++) {
    const label = labels.data[i];
    if (label > 9) fail(`${labelsName}: label ${label} at index ${i} is not a class 0..9`);
    if (taken[label] < want) {
      taken[label]++;
      picked.push(i);
    }
  }
  if (taken.some((t) => t < want)) fail(`${prefix}: not enough images per class (${taken.join(', ')}) for ${want}`);

  const outImages = new Uint8Array(picked.length * size);
  const outLabels = new Uint8Array(picked.length);
  picked.forEach((src, dst) => {
    outImages.set(images.data.subarray(src * size, (src + 1) * size), dst * size);
    outLabels[dst] = labels.data[src];
  });
  writeIdx(join(out, imagesName), 0x00000803, [picked.length, rows, cols], outImages);
  writeIdx(join(out, labelsName), 0x00000801, [picked.length], outLabels);
}

function readIdx(path, magic) {
  const bytes = gunzipSync(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4 || view.getUint32(0) !== magic) fail(`${path}: bad magic number (expected 0x${hex(magic)})`);
  const ndims = magic & 0xff;
  const dims = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d));
  const header = 4 + 4 * ndims;
  const length = dims.reduce((a, b) => a * b, 1);
  if (bytes.byteLength < header + length) fail(`${path}: truncated (${bytes.byteLength} < ${header + length} bytes)`);
  return { dims, data: bytes.subarray(header, header + length) };
}

function writeIdx(path, magic, dims, data) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  const idx = Buffer.concat([header, data]);
  const gz = gzipSync(idx, { level: constants.Z_BEST_COMPRESSION });
  writeFileSync(path, gz);
  const sha = createHash('sha256').update(idx).digest('hex');
  console.log(`${path}: dims [${dims.join(', ')}], ${gz.byteLength} bytes gzipped, sha256(idx) ${sha}`);
}

function parseArgs(argv, defaults) {
  const result = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || !(key in defaults) || i + 1 >= argv.length) {
      fail(`usage: node scripts/make-data-subset.mjs ${Object.keys(defaults).map((k) => `[--${k} ${defaults[k]}]`).join(' ')}`);
    }
    result[key] = argv[++i];
  }
  return result;
}

function toCount(text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) fail(`per-class count must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

function hex(n) {
  return n.toString(16).padStart(8, '0');
}

function fail(message) {
  console.error(`make-data-subset: ${message}`);
  process.exit(1);
}
