import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Prompt } from '@mmrl/core';
import { EXPERT_FILE_FORMAT, promptKey, readExpertFile, writeExpertFile } from '../../src/sources/expert-file.js';

const vocabulary = ['<pad>', '<bos>', '<eos>', 'a', 'b'];
const header = { format: EXPERT_FILE_FORMAT as typeof EXPERT_FILE_FORMAT, version: 1, vocabulary, temperature: 1, topP: 1, source: 'test' };
const dir = mkdtempSync(join(tmpdir(), 'mmrl-expert-file-'));

function file(lines: unknown[]): string {
  const path = join(dir, `f${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return path;
}

const record = { prompt: 'k1', tokens: [3, 4, 2], logprobs: [-0.1, -0.2, -0.05], finished: true };

test('round trip: written atomically, read back grouped by prompt key', async () => {
  const path = join(dir, 'ok.jsonl');
  await writeExpertFile(path, header, [record, { ...record, tokens: [4, 2], logprobs: [-1, -0.5] }, { ...record, prompt: 'k2' }]);
  const f = await readExpertFile(path, vocabulary);
  assert.equal(f.count, 3);
  assert.equal(f.byPrompt.get('k1')!.length, 2);
  assert.deepEqual(f.byPrompt.get('k2')![0]!.tokens, [3, 4, 2]);
});

test('each malformed line fails naming file:line and the problem', async () => {
  const cases: [unknown[], RegExp][] = [
    [[], /:1: empty file/],
    [[{ ...header, format: 'x' }], /:1: header "format" must be "mmrl-expert-trajectories"/],
    [[{ ...header, version: 2 }], /:1: version 2; this build reads version 1/],
    [[{ ...header, vocabulary: ['<pad>', '<bos>', '<eos>', 'a', 'c'] }], /:1: the expert's vocabulary differs .*first difference at id 4: "c" vs "b"/],
    [[header, record, '{not json'], /:3: invalid JSON/],
    [[header, { ...record, prompt: '' }], /:2: "prompt" must be a non-empty string/],
    [[header, record, record, { ...record, tokens: [3, 9] , logprobs: [-1, -1] }], /:4: "tokens"\[1\] = 9 is outside the vocabulary \(0..4\)/],
    [[header, { ...record, logprobs: [-0.1] }], /:2: "logprobs" must be a list with one entry per token \(3\), got 1/],
    [[header, { ...record, logprobs: [-0.1, 0.5, -1] }], /:2: "logprobs"\[1\] = 0.5 is not a finite log-probability ≤ 0/],
    [[header, { ...record, finished: 'yes' }], /:2: "finished" must be true or false/],
  ];
  for (const [lines, re] of cases) {
    const path = lines.length === 0 ? (writeFileSync(join(dir, 'empty.jsonl'), ''), join(dir, 'empty.jsonl')) : file(lines);
    await assert.rejects(readExpertFile(path, vocabulary), (e: Error) => {
      assert.match(e.message, re);
      assert.ok(e.message.startsWith(path), e.message);
      return true;
    });
  }
  await assert.rejects(readExpertFile(join(dir, 'missing.jsonl'), vocabulary), /missing\.jsonl: cannot read the file/);
});

test('the prompt key depends on question and pixels only (not on id or seed)', () => {
  const image = Float32Array.from([0, 0.5, 1, 0.25]);
  const p = (id: string, question: string, img = image): Prompt => ({ id, split: 'train', image: img, imageShape: [2, 2], question, answer: '1', meta: {} });
  assert.equal(promptKey(p('a', 'how many bag ?')), promptKey(p('b', 'how many bag ?')));
  assert.notEqual(promptKey(p('a', 'how many bag ?')), promptKey(p('a', 'how many coat ?')));
  assert.notEqual(promptKey(p('a', 'how many bag ?')), promptKey(p('a', 'how many bag ?', Float32Array.from([0, 0.5, 1, 0.3]))));
  assert.match(promptKey(p('a', 'q')), /^[0-9a-f]{32}$/);
});
