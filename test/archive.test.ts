// `mmrl archive` (packages/cli/src/ablation/archive.ts) on fake ablation directories (no training): what a results
// archive keeps and drops, unfinished runs, byte-identical re-archiving, the archived metrics read back, and the
// errors. The end-to-end path (archive, then --reuse, then the same report) is in ablate.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { archiveAblation, readRunMetricsText } from '../packages/cli/src/ablation/archive.js';
import { indexReusableRuns } from '../packages/cli/src/ablation/reuse.js';
import { RUN_FILES } from '../packages/cli/src/ablation/runner.js';

const METRICS = '{"phase":"rl","step":0,"reward_mean":0.5}\n{"phase":"rl","step":1,"reward_mean":0.75}\n';

/** A run directory as `mmrl ablate` leaves it; `finished` writes summary.json with the after-RL evaluation. */
function fakeRun(runsDir: string, name: string, finished: boolean): string {
  const dir = join(runsDir, name);
  mkdirSync(join(dir, 'checkpoint'), { recursive: true });
  mkdirSync(join(dir, 'final-eval'), { recursive: true });
  const [, seed, hash] = /-seed(\d+)-([0-9a-f]{10})$/.exec(name)!;
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ arm: 'a', levels: {}, seed: Number(seed), hash, status: finished ? 'completed' : 'running' }));
  writeFileSync(join(dir, 'run-config.json'), '{"seed":1}');
  writeFileSync(join(dir, 'metrics.jsonl'), METRICS);
  writeFileSync(join(dir, 'train.log'), 'log');
  writeFileSync(join(dir, 'checkpoint', 'weights.bin'), Buffer.alloc(1024));
  if (finished) {
    writeFileSync(join(dir, 'summary.json'), JSON.stringify({ afterRl: { accuracy: 0.5 } }));
    writeFileSync(join(dir, 'final-eval', 'eval.json'), JSON.stringify({ prompts: 10, accuracy: 0.4 }));
  }
  return dir;
}

test('archive keeps records, summaries, final evaluations and gzipped metrics of finished runs, nothing else', async () => {
  const root = mkdtempSync(join(tmpdir(), 'mmrl-archive-'));
  const ablation = join(root, 'abl');
  fakeRun(join(ablation, 'runs'), 'a-seed1-0123456789', true);
  fakeRun(join(ablation, 'runs'), 'a-seed2-abcdefabcd', false);
  writeFileSync(join(ablation, 'report.json'), '{}');
  const archive = join(root, 'archive');
  const outcome = await archiveAblation(ablation, archive);
  assert.deepEqual(outcome.archived, ['a-seed1-0123456789']);
  assert.deepEqual(outcome.unfinished, ['a-seed2-abcdefabcd']);
  const run = join(archive, 'runs', 'a-seed1-0123456789');
  assert.deepEqual(readdirSync(run).sort(), ['final-eval', RUN_FILES.archivedMetrics, 'run-config.json', 'run.json', 'summary.json']);
  assert.ok(!existsSync(join(run, 'checkpoint')) && !existsSync(join(run, 'train.log')));
  assert.ok(existsSync(join(archive, 'report.json')) && !existsSync(join(archive, 'report.md')));
  assert.equal(await readRunMetricsText(run), METRICS);
  // Re-archiving writes the same bytes (no mtime in the gzip header).
  const first = readFileSync(join(run, RUN_FILES.archivedMetrics));
  await archiveAblation(ablation, archive);
  assert.ok(readFileSync(join(run, RUN_FILES.archivedMetrics)).equals(first));
  // An archive is itself a valid source for another archive and for --reuse.
  const again = await archiveAblation(archive, join(root, 'archive2'));
  assert.deepEqual(again.archived, ['a-seed1-0123456789']);
  assert.equal(await readRunMetricsText(join(root, 'archive2', 'runs', 'a-seed1-0123456789')), METRICS);
  const index = await indexReusableRuns([archive]);
  assert.deepEqual([...index.keys()], ['0123456789']);
});

test('archived metrics: metrics.jsonl wins over the gzipped copy; a corrupt copy is named; no metrics is undefined', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-archive-read-'));
  assert.equal(await readRunMetricsText(dir), undefined);
  writeFileSync(join(dir, RUN_FILES.archivedMetrics), gzipSync('{"step":0}\n'));
  assert.equal(await readRunMetricsText(dir), '{"step":0}\n');
  writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1}\n');
  assert.equal(await readRunMetricsText(dir), '{"step":1}\n');
  const corrupt = mkdtempSync(join(tmpdir(), 'mmrl-archive-bad-'));
  writeFileSync(join(corrupt, RUN_FILES.archivedMetrics), 'not gzip');
  await assert.rejects(readRunMetricsText(corrupt), new RegExp(`${join(corrupt, RUN_FILES.archivedMetrics).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a gzip stream`));
  await assert.rejects(archiveAblation(dir, join(dir, 'x')), /no runs\/ directory \(expected an ablation directory written by mmrl ablate\)/);
});

// The results archives under docs/ablation-runs/ are committed with their runs (a `runs/` ignore rule once kept them
// out of git, so `--reuse docs/ablation-runs/<name>` only worked where they were made): every completed run a
// committed report lists is in its archive, finished, with its metrics, and `--reuse` indexes it under its hash.
test('the committed results archives hold every run their report lists, ready for --reuse', async () => {
  const root = join(import.meta.dirname, '..', 'docs', 'ablation-runs');
  const archives = readdirSync(root).filter((d) => existsSync(join(root, d, 'report.json')));
  assert.ok(archives.length >= 5, `results archives in docs/ablation-runs: ${archives.join(', ')}`);
  for (const name of archives) {
    const report = JSON.parse(readFileSync(join(root, name, 'report.json'), 'utf8')) as {
      runs: { hash: string; seed: number; dir: string; status: string }[];
    };
    const completed = report.runs.filter((r) => r.status === 'completed');
    assert.ok(completed.length > 0, `${name}: no completed run in report.json`);
    const index = await indexReusableRuns([join(root, name)]);
    for (const run of completed) {
      assert.ok(existsSync(join(root, name, run.dir, RUN_FILES.archivedMetrics)), `${name}/${run.dir}: ${RUN_FILES.archivedMetrics} missing`);
      assert.equal(index.get(run.hash)?.seed, run.seed, `${name}: run ${run.hash} (seed ${run.seed}) not reusable`);
    }
  }
});
