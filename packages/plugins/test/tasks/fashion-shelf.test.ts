import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Tokenizer, type Prompt } from '@mmrl/core';
import {
  embeddedFashionMnistDir,
  FashionShelfTask,
  fashionShelfTask,
  SHELF_CLASS_TOKENS,
  totalBlindAccuracy,
  type FashionShelfMeta,
} from '../../src/tasks/fashion-shelf.js';
import { loadFashionMnist, type FashionMnist } from '../../src/tasks/idx.js';

const data: FashionMnist = await loadFashionMnist(embeddedFashionMnistDir());
const countTask = new FashionShelfTask(data, { slots: 3, questions: ['count'] });
const mixedTask = new FashionShelfTask(data, { slots: 3, questions: ['count', 'total'] });
const meta = (p: Prompt) => p.meta as FashionShelfMeta;
const norm = (s: string) => s.replace(/\s+/g, ' ').trim();

test('the embedded subset: 3,000 train and 1,000 test images, class-balanced', () => {
  assert.equal(data.train.images.count, 3000);
  assert.equal(data.test.images.count, 1000);
  for (const [split, per] of [[data.train, 300], [data.test, 100]] as const) {
    const counts = new Array(10).fill(0);
    for (const l of split.labels) counts[l]++;
    assert.deepEqual(counts, new Array(10).fill(per));
  }
});

test('images are [28, 28K] in [0, 1] and each slot is the recorded image of the recorded class', () => {
  const prompts = mixedTask.prompts('train', 50, 1);
  assert.deepEqual(mixedTask.imageShape, [28, 84]);
  for (const p of prompts) {
    assert.deepEqual(p.imageShape, [28, 84]);
    assert.equal(p.image.length, 28 * 84);
    let max = 0;
    for (const v of p.image) {
      assert.ok(v >= 0 && v <= 1);
      max = Math.max(max, v);
    }
    assert.ok(max > 0.5, 'an image with some ink');
    const m = meta(p);
    assert.equal(m.slotLabels.length, 3);
    m.imageIndices.forEach((idx, s) => {
      assert.equal(data.train.labels[idx], m.slotLabels[s]);
      assert.equal(m.slotClasses[s], SHELF_CLASS_TOKENS[m.slotLabels[s]!]);
      for (const [r, x] of [[14, 14], [3, 20], [27, 0]] as const) {
        assert.equal(p.image[r * 84 + s * 28 + x], Math.fround(data.train.images.pixels[idx * 784 + r * 28 + x]! / 255));
      }
    });
  }
});

test('count answers are uniform over 0..K and equal the slot labels', () => {
  const prompts = countTask.prompts('train', 2000, 7);
  const hist = [0, 0, 0, 0];
  const targets = new Array(10).fill(0);
  for (const p of prompts) {
    const m = meta(p);
    assert.equal(m.type, 'count');
    assert.equal(p.question, `how many ${m.target} ?`);
    const c = m.slotLabels.filter((l) => l === m.targetLabel).length;
    assert.equal(p.answer, String(c));
    hist[c]!++;
    targets[m.targetLabel!]++;
  }
  for (const h of hist) assert.ok(Math.abs(h - 500) < 90, `count histogram ${hist}`);
  for (const t of targets) assert.ok(t > 130 && t < 270, `target histogram ${targets}`);
  assert.equal(countTask.blindBaseline(prompts), 0.25);
});

test('total answers are the sum of the listed prices of the slots', () => {
  const task = new FashionShelfTask(data, { slots: 3, questions: ['total'], maxPrice: 9 });
  for (const p of task.prompts('test', 200, 3)) {
    const m = meta(p);
    assert.equal(m.type, 'total');
    assert.equal(m.prices!.length, 10);
    assert.ok(m.prices!.every((x) => x >= 1 && x <= 9));
    assert.equal(p.answer, String(m.slotLabels.reduce((s, l) => s + m.prices![l]!, 0)));
    assert.ok(p.question.startsWith('prices t-shirt ') && p.question.endsWith(' boot ' + m.prices![9] + ' total ?'));
  }
});

test('train prompts use training images only, test prompts test images only', () => {
  const key = (pixels: Uint8Array, i: number) => Buffer.from(pixels.subarray(i * 784, (i + 1) * 784)).toString('base64');
  const trainSet = new Set(Array.from({ length: 3000 }, (_, i) => key(data.train.images.pixels, i)));
  const testSet = new Set(Array.from({ length: 1000 }, (_, i) => key(data.test.images.pixels, i)));
  const slotKey = (p: Prompt, s: number) => {
    const bytes = new Uint8Array(784);
    for (let r = 0; r < 28; r++) for (let x = 0; x < 28; x++) bytes[r * 28 + x] = Math.round(p.image[r * 84 + s * 28 + x]! * 255);
    return Buffer.from(bytes).toString('base64');
  };
  for (const [split, own, other] of [['train', trainSet, testSet], ['test', testSet, trainSet]] as const) {
    for (const p of mixedTask.prompts(split, 100, 5)) {
      assert.equal(p.split, split);
      assert.ok(p.id.startsWith(`${split}-`));
      for (let s = 0; s < 3; s++) {
        assert.ok(own.has(slotKey(p, s)));
        assert.ok(!other.has(slotKey(p, s)));
      }
    }
  }
});

test('prompts are deterministic per seed, differ across seeds, ids unique and prefix-stable', () => {
  const a = mixedTask.prompts('train', 40, 11);
  const b = mixedTask.prompts('train', 40, 11);
  assert.deepEqual(a, b);
  const c = mixedTask.prompts('train', 40, 12);
  assert.notDeepEqual(a.map((p) => p.question), c.map((p) => p.question));
  assert.equal(new Set(a.map((p) => p.id)).size, 40);
  assert.deepEqual(mixedTask.prompts('train', 10, 11), a.slice(0, 10));
  assert.equal(a[3]!.id, 'train-11-3');
});

test('questions and oracle responses round-trip through the task tokenizer; oracle answers match', () => {
  const tok = new Tokenizer(mixedTask.vocabulary());
  const fiveSlots = new FashionShelfTask(data, { slots: 5, questions: ['count', 'total'], maxPrice: 30 });
  for (const task of [mixedTask, fiveSlots]) {
    for (const p of task.prompts('train', 200, 2)) {
      const response = task.oracleResponse(p);
      for (const text of [p.question, response]) assert.equal(norm(tok.decode(tok.encode(text))), norm(text));
      const boxed = /\\boxed\{ (\d+) \}$/.exec(tok.decode(tok.encode(response)));
      assert.equal(boxed?.[1], p.answer);
      const m = meta(p);
      assert.ok(response.startsWith(`<description> ${m.slotClasses.join(' ')} </description> <think> `));
      if (task === mixedTask) {
        const n = tok.encode(response).length;
        assert.ok(n >= 13 && n <= 22, `${n} tokens: ${response}`);
      }
    }
  }
  const p = countTask.prompts('train', 1, 0)[0]!;
  const m = meta(p);
  const ind = m.slotLabels.map((l) => (l === m.targetLabel ? 1 : 0));
  assert.equal(
    countTask.oracleResponse(p),
    `<description> ${m.slotClasses.join(' ')} </description> <think> ${ind.join(' + ')} = ${p.answer} </think> \\boxed{ ${p.answer} }`,
  );
});

test('blind baseline of total questions, checked by hand', () => {
  // Nine classes cost 1, one costs 2; two slots: P(2) = 0.81, P(3) = 0.18, P(4) = 0.01.
  const prices = [1, 1, 1, 1, 1, 1, 1, 2, 1, 1];
  assert.ok(Math.abs(totalBlindAccuracy(prices, 2) - 0.81) < 1e-12);
  // Prices 1..10, one slot: every total has probability 0.1; two slots: the most likely total 11 has 10/100.
  const distinct = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.ok(Math.abs(totalBlindAccuracy(distinct, 1) - 0.1) < 1e-12);
  assert.ok(Math.abs(totalBlindAccuracy(distinct, 2) - 0.1) < 1e-12);
  const fake = (type: 'count' | 'total', slots: number, p?: number[]): Prompt => ({
    id: 'x',
    split: 'test',
    image: new Float32Array(0),
    imageShape: [28, 28 * slots],
    question: '',
    answer: '0',
    meta: { type, slots, slotLabels: [], slotClasses: [], imageIndices: [], prices: p },
  });
  assert.ok(Math.abs(mixedTask.blindBaseline([fake('total', 2, prices), fake('count', 3)]) - (0.81 + 0.25) / 2) < 1e-12);
  // A real mixed list lies between the total and count baselines.
  const b = mixedTask.blindBaseline(mixedTask.prompts('test', 100, 1));
  assert.ok(b > 0.05 && b < 0.25, String(b));
});

test('the strategy definition creates the task with defaults from the embedded subset', async () => {
  assert.equal(fashionShelfTask.kind, 'task');
  assert.equal(fashionShelfTask.name, 'fashion-shelf');
  assert.equal(fashionShelfTask.optionsSchema.additionalProperties, false);
  const task = await fashionShelfTask.create(
    { dataDir: 'embedded', slots: 2, questions: ['count'], maxPrice: 9, description: 'classes', reasoning: 'sum', vocabulary: 'auto' },
    { container: undefined as never, seed: 0, baseDir: process.cwd() },
  );
  assert.deepEqual(task.imageShape, [28, 56]);
  assert.equal(task.prompts('test', 3, 0).length, 3);
  await assert.rejects(
    async () =>
      fashionShelfTask.create(
        { dataDir: 'no-such-dir', slots: 2, questions: ['count'], maxPrice: 9, description: 'classes', reasoning: 'sum', vocabulary: 'auto' },
        { container: undefined as never, seed: 0, baseDir: '/tmp' },
      ),
    /file \/tmp\/no-such-dir\/t/,
  );
});

const debianDir = '/usr/share/datasets/fashion-mnist';
test('the full Debian set loads when installed', { skip: !existsSync(debianDir) && `${debianDir} is missing` }, async () => {
  const full = await FashionShelfTask.load({ dataDir: debianDir, slots: 3, questions: ['count', 'total'] });
  const p = full.prompts('test', 20, 0);
  assert.equal(p.length, 20);
  for (const q of p) assert.ok(meta(q).imageIndices.every((i) => i < 10000));
  assert.ok(full.prompts('train', 200, 0).some((q) => meta(q).imageIndices.some((i) => i >= 10000)));
});

test('IVR-R1 formats: the critique names each misperceived slot; questions round-trip through the tokenizer', async () => {
  const { Rng } = await import('@mmrl/core');
  const { describedClasses } = await import('../../src/tasks/fashion-shelf.js');
  const tok = new Tokenizer(mixedTask.vocabulary());
  const rng = new Rng(3);
  for (const p of mixedTask.prompts('train', 40, 5)) {
    const m = meta(p);
    const failed = mixedTask.corruptResponse(p, rng);
    assert.notEqual(norm(failed), norm(mixedTask.oracleResponse(p)), 'a corrupted response differs from the oracle');
    const critique = mixedTask.oracleCritique(p, failed);
    const said = describedClasses(failed);
    const expected = m.slotClasses.map((c, s) => (said[s] === c ? `slot ${s + 1} ok` : `slot ${s + 1} is ${c} not ${said[s]}`)).join(' ');
    assert.equal(critique, expected);
    for (const q of [mixedTask.critiqueQuestion(p, failed), mixedTask.rectificationQuestion(p, failed, critique)]) {
      assert.equal(norm(tok.decode(tok.encode(q))), norm(q));
    }
    assert.equal(norm(tok.decode(tok.encode(critique))), critique);
  }
  // Hand-made case: the first slot misread, no description at all.
  const p = countTask.prompts('train', 1, 9)[0]!;
  const [a, b, c] = meta(p).slotClasses;
  const wrong = a === 'bag' ? 'coat' : 'bag';
  assert.equal(countTask.oracleCritique(p, `<description> ${wrong} ${b} ${c} </description> \\boxed{ 0 }`), `slot 1 is ${a} not ${wrong} slot 2 ok slot 3 ok`);
  assert.equal(countTask.oracleCritique(p, '\\boxed{ 1 }'), `slot 1 is ${a} slot 2 is ${b} slot 3 is ${c}`);
});
