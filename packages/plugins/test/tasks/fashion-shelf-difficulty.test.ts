// The graded difficulty of fashion-shelf: compare and which-slot questions, slot descriptions, step-by-step sums, and
// the vocabulary that stays unchanged for today's configs.
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { Rng, Tokenizer, type Prompt } from '@mmrl/core';
import {
  describedClasses,
  embeddedFashionMnistDir,
  FASHION_SHELF_EXTENDED_TOKENS,
  FASHION_SHELF_VOCABULARY,
  FashionShelfTask,
  shelfTerms,
  type FashionShelfMeta,
} from '../../src/tasks/fashion-shelf.js';
import { loadFashionMnist } from '../../src/tasks/idx.js';

const data = await loadFashionMnist(embeddedFashionMnistDir());
const meta = (p: Prompt) => p.meta as FashionShelfMeta;
const norm = (s: string) => s.replace(/\s+/g, ' ').trim();
const count = (labels: readonly number[], l: number | undefined) => labels.filter((x) => x === l).length;

/** A hand-made prompt: only meta matters to the oracle. */
const fake = (m: Partial<FashionShelfMeta> & Pick<FashionShelfMeta, 'type' | 'slotLabels'>): Prompt =>
  ({ id: 'x', split: 'train', image: new Float32Array(0), imageShape: [28, 28], question: '', answer: '', meta: { slots: m.slotLabels.length, ...m } }) as Prompt;

test('the vocabulary is unchanged unless compare/which-slot questions (or vocabulary: extended) ask for more', () => {
  assert.deepEqual(new FashionShelfTask(data, { questions: ['count', 'total'], slots: 6 }).vocabulary(), FASHION_SHELF_VOCABULARY);
  assert.equal(FASHION_SHELF_VOCABULARY.length + 3, 43, 'the 43-token vocabulary of the shipped checkpoints');
  const extended = [...FASHION_SHELF_VOCABULARY, ...FASHION_SHELF_EXTENDED_TOKENS];
  assert.deepEqual(new FashionShelfTask(data, { questions: ['compare'] }).vocabulary(), extended);
  assert.deepEqual(new FashionShelfTask(data, { questions: ['count', 'which-slot'] }).vocabulary(), extended);
  assert.deepEqual(new FashionShelfTask(data, { questions: ['count'], vocabulary: 'extended' }).vocabulary(), extended);
  assert.deepEqual(new FashionShelfTask(data, { questions: ['total'], reasoning: 'steps' }).vocabulary(), extended);
  assert.deepEqual(new FashionShelfTask(data, { questions: ['total'], description: 'slots' }).vocabulary(), FASHION_SHELF_VOCABULARY);
  assert.throws(() => new FashionShelfTask(data, { questions: ['compare'], slots: 1 }), /'compare' questions need slots ≥ 2/);
  assert.throws(() => new FashionShelfTask(data, { questions: ['sort' as never] }), /questions must be a non-empty list of 'count' \| 'total' \| 'compare' \| 'which-slot'/);
  assert.throws(() => new FashionShelfTask(data, { reasoning: 'long' as never }), /reasoning must be 'sum' or 'steps'/);
});

test('compare: how many more A than B, the difference uniform over 0..K, other slots neither class', () => {
  const k = 4;
  const task = new FashionShelfTask(data, { slots: k, questions: ['compare'] });
  const tok = new Tokenizer(task.vocabulary());
  const answers = new Array(k + 1).fill(0);
  const n = 1000;
  for (const p of task.prompts('train', n, 3)) {
    const m = meta(p);
    assert.equal(m.type, 'compare');
    assert.notEqual(m.targetLabel, m.versusLabel);
    assert.equal(p.question, `how many more ${m.target} than ${m.versus} ?`);
    const a = count(m.slotLabels, m.targetLabel);
    const b = count(m.slotLabels, m.versusLabel);
    assert.ok(a >= b && a + b <= k);
    assert.equal(p.answer, String(a - b));
    answers[a - b]++;
    const response = task.oracleResponse(p);
    assert.equal(norm(tok.decode(tok.encode(response))), norm(response));
    assert.equal(norm(tok.decode(tok.encode(p.question))), norm(p.question));
    assert.match(response, new RegExp(`, ${a} - ${b} = ${a - b} </think> \\\\boxed\\{ ${a - b} \\}$`));
  }
  // d uniform over 0..4: 200 expected each; a χ² bound far from the expected counts would be a bug.
  for (const c of answers) assert.ok(c > 150 && c < 250, `answer counts ${answers}`);
  assert.ok(Math.abs(task.blindBaseline(task.prompts('test', 10, 1)) - 1 / 5) < 1e-12);
  // By hand: slots [coat, shirt, bag, coat] for "how many more coat (4) than shirt (6)": A terms 1 0 0 1, B terms 0 1 0 0.
  const p = fake({ type: 'compare', slotLabels: [4, 6, 8, 4], slotClasses: ['coat', 'shirt', 'bag', 'coat'], targetLabel: 4, versusLabel: 6 });
  assert.equal(
    task.oracleResponse(p),
    '<description> coat shirt bag coat </description> <think> 1 + 0 + 0 + 1 = 2 , 0 + 1 + 0 + 0 = 1 , 2 - 1 = 1 </think> \\boxed{ 1 }',
  );
});

test('which-slot: exactly one slot holds the class, the answer is its 1-based position', () => {
  const task = new FashionShelfTask(data, { slots: 5, questions: ['which-slot'] });
  const positions = new Array(5).fill(0);
  for (const p of task.prompts('test', 500, 4)) {
    const m = meta(p);
    assert.equal(count(m.slotLabels, m.targetLabel), 1);
    const at = m.slotLabels.indexOf(m.targetLabel!) + 1;
    assert.equal(p.answer, String(at));
    assert.equal(p.question, `which slot holds ${m.target} ?`);
    positions[at - 1]++;
    assert.match(task.oracleResponse(p), new RegExp(`= ${at} </think> \\\\boxed\\{ ${at} \\}$`));
  }
  for (const c of positions) assert.ok(c > 60 && c < 140, `positions ${positions}`);
  assert.ok(Math.abs(task.blindBaseline(task.prompts('test', 10, 1)) - 1 / 5) < 1e-12);
  const p = fake({ type: 'which-slot', slotLabels: [0, 9, 2], slotClasses: ['t-shirt', 'boot', 'pullover'], targetLabel: 9 });
  assert.equal(task.oracleResponse(p), '<description> t-shirt boot pullover </description> <think> 0 + 2 + 0 = 2 </think> \\boxed{ 2 }');
});

test('description: slots and reasoning: steps write the longer traces, checked by hand', () => {
  const long = new FashionShelfTask(data, { slots: 3, questions: ['total'], description: 'slots', reasoning: 'steps' });
  const prices = [3, 5, 2, 7, 1, 4, 6, 8, 9, 2];
  const p = fake({ type: 'total', slotLabels: [1, 3, 9], slotClasses: ['trouser', 'dress', 'boot'], prices });
  // Prices 5, 7, 2: 5 + 7 = 12, then 12 + 2 = 14.
  assert.equal(
    long.oracleResponse(p),
    '<description> slot 1 trouser slot 2 dress slot 3 boot </description> <think> 5 + 7 = 12 , 12 + 2 = 14 </think> \\boxed{ 14 }',
  );
  assert.deepEqual(describedClasses(long.oracleResponse(p)), ['trouser', 'dress', 'boot']);
  // compare with steps: A terms 1 0 1 → 1 + 0 = 1 1 + 1 = 2; B terms 0 1 0 → 0 + 1 = 1 1 + 0 = 1; 2 - 1 = 1.
  const cmp = new FashionShelfTask(data, { slots: 3, questions: ['compare'], reasoning: 'steps' });
  const q = fake({ type: 'compare', slotLabels: [4, 6, 4], slotClasses: ['coat', 'shirt', 'coat'], targetLabel: 4, versusLabel: 6 });
  assert.equal(cmp.oracleResponse(q), '<description> coat shirt coat </description> <think> 1 + 0 = 1 , 1 + 1 = 2 , 0 + 1 = 1 , 1 + 0 = 1 , 2 - 1 = 1 </think> \\boxed{ 1 }');
  // One slot: the sum is the term itself in both formats.
  const one = new FashionShelfTask(data, { slots: 1, questions: ['count'], reasoning: 'steps' });
  assert.equal(one.oracleResponse(fake({ type: 'count', slotLabels: [4], slotClasses: ['coat'], targetLabel: 4 })), '<description> coat </description> <think> 1 = 1 </think> \\boxed{ 1 }');
  // Reasoning length after the description: K = 6 totals with running sums write ≥ 30 tokens of <think>.
  const six = new FashionShelfTask(data, { slots: 6, questions: ['total'], reasoning: 'steps', description: 'slots' });
  const tok = new Tokenizer(six.vocabulary());
  const lengths = six.prompts('train', 100, 1).map((pr) => {
    const r = six.oracleResponse(pr);
    assert.equal(norm(tok.decode(tok.encode(r))), norm(r));
    return tok.encode(r.slice(r.indexOf('<think>'))).length;
  });
  const mean = lengths.reduce((a, b) => a + b, 0) / lengths.length;
  assert.ok(mean >= 30, `mean ${mean} tokens from <think> on`);
});

test('terms, misreadings and critiques work for every question type', () => {
  const m = { type: 'compare', slotLabels: [4, 6, 4], targetLabel: 4, versusLabel: 6 } as FashionShelfMeta;
  assert.deepEqual(shelfTerms(m, m.slotLabels), [[1, 0, 1], [0, 1, 0]]);
  assert.deepEqual(shelfTerms({ ...m, type: 'which-slot' }, [0, 4, 1]), [[0, 2, 0]]);
  const task = new FashionShelfTask(data, { slots: 4, questions: ['count', 'total', 'compare', 'which-slot'], description: 'slots' });
  const tok = new Tokenizer(task.vocabulary());
  const rng = new Rng(7);
  const seen = new Set<string>();
  for (const p of task.prompts('train', 80, 2)) {
    seen.add(meta(p).type);
    const failed = task.corruptResponse(p, rng);
    assert.notEqual(norm(failed), norm(task.oracleResponse(p)));
    assert.equal(norm(tok.decode(tok.encode(failed))), norm(failed));
    const critique = task.oracleCritique(p, failed);
    assert.equal(norm(tok.decode(tok.encode(critique))), critique);
    assert.equal(describedClasses(failed).length, 4);
  }
  assert.equal(seen.size, 4);
});

test('default options draw the same prompts, traces and misreadings as before the difficulty options', () => {
  // The digest below was computed with the task as it was before these options (git show 3652394:…/fashion-shelf.ts)
  // over 200 count/total prompts on 4 slots: the sequence of RNG draws and every string are unchanged.
  const task = new FashionShelfTask(data, { slots: 4, questions: ['count', 'total'] });
  const rng = new Rng(5);
  const h = createHash('sha256');
  for (const p of task.prompts('train', 200, 3)) {
    h.update(`${p.question}|${p.answer}|${task.oracleResponse(p)}|${task.corruptResponse(p, rng)}|`);
    h.update(Buffer.from(p.image.buffer).toString('base64').slice(0, 64));
  }
  assert.equal(h.digest('hex'), '668013bc0e92c35e6c8bc7db93349e87fe0b372cef1811775500367df833ee5c');
});
