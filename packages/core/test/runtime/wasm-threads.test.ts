import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defaultWasmThreads, initWasm, MAX_WASM_THREADS, resolveWasmThreads } from '../../src/runtime/wasm-threads.js';

const PROBE = fileURLToPath(new URL('./wasm-threads-probe.ts', import.meta.url));

/** Runs wasm-threads-probe.ts in a child process: the thread count is fixed once per process. */
function probe(threads: number): { threads: number; hashes: string[]; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, ['--conditions=@mmrl/source', '--import', 'tsx', PROBE, String(threads)], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const parsed = line.startsWith('{') ? (JSON.parse(line) as { threads: number; hashes: string[] }) : { threads: -1, hashes: [] };
  return { ...parsed, stderr: r.stderr.slice(-2000), status: r.status };
}

test('threaded wasm starts in Node, runs the requested threads, exits by itself and gives bit-identical results', () => {
  const one = probe(1);
  const three = probe(3);
  // A pool thread that kept the process alive would hit the 120 s timeout (status null).
  assert.equal(one.status, 0, one.stderr);
  assert.equal(three.status, 0, three.stderr);
  assert.equal(one.threads, 1);
  assert.equal(three.threads, 3, 'tfjs would cap the pool at half the logical cores; the requested count is honoured');
  assert.equal(one.hashes.length, 5);
  assert.deepEqual(three.hashes, one.hashes, 'loss and gradients bit for bit');
});

test('thread counts: range checks, auto', async () => {
  await assert.rejects(initWasm(0, async () => true), /runtime\.threads: the wasm backend takes 1 to 8 threads, got 0/);
  await assert.rejects(initWasm(MAX_WASM_THREADS + 1, async () => true), /got 9/);
  await assert.rejects(initWasm(1.5, async () => true), /got 1\.5/);
  const auto = defaultWasmThreads();
  assert.ok(auto >= 1 && auto <= MAX_WASM_THREADS);
  assert.equal(resolveWasmThreads('auto'), auto);
  assert.equal(resolveWasmThreads(4), 4);
});
