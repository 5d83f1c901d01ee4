import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { truncateMetricsAfterStep } from '../../src/index.js';

const lines = (rows: object[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');

test('truncateMetricsAfterStep keeps the rows up to the checkpoint step and drops what came after', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'mmrl-trunc-')), 'metrics.jsonl');
  const rows = [
    { phase: 'eval', label: 'before RL', accuracy: 0.5 },
    { phase: 'rl', step: 0 },
    { phase: 'eval', label: 'step 2', accuracy: 0.5 },
    { phase: 'rl', step: 1 },
    { phase: 'rl', step: 2 }, // written after the checkpoint at step 2, before a crash
    { phase: 'eval', label: 'step 4', accuracy: 0.5 },
  ];
  writeFileSync(file, lines(rows));
  const kept = await truncateMetricsAfterStep(file, 2);
  assert.deepEqual(kept, rows.slice(0, 4));
  assert.equal(readFileSync(file, 'utf8'), lines(rows.slice(0, 4)));
  // Idempotent; a run stopped exactly at its checkpoint loses only what followed (its final evaluation).
  assert.deepEqual(await truncateMetricsAfterStep(file, 2), rows.slice(0, 4));
  writeFileSync(file, lines([...rows.slice(0, 4), { phase: 'eval', label: 'after RL' }]));
  assert.deepEqual(await truncateMetricsAfterStep(file, 2), rows.slice(0, 4));
  writeFileSync(file, 'not json\n');
  await assert.rejects(truncateMetricsAfterStep(file, 2), /line 1 is not JSON/);
});
