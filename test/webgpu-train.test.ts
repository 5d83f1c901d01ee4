// The whole train loop on the webgpu backend (issue 8): sampling, forward, GRPO + PPO-clip with KL, the fused Adam
// kernel and the evaluation, against the same run on wasm. On a machine without a GPU, WebGPU runs on Mesa's lavapipe
// (CPU Vulkan; .ci/run installs it): slow, but the same kernels and the same code path as on the H100.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { mmrl, ROOT } from './helpers.js';

interface Row {
  phase: string;
  step?: number;
  reward_mean?: number;
  grad_norm?: number;
  kl?: number;
  accuracy?: number;
}

test('mmrl train --backend webgpu: 2 GRPO steps of the student match wasm (rewards, grad norms, KL, held-out accuracy)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mmrl-webgpu-'));
  try {
    const config = parseYaml(readFileSync(join(ROOT, 'examples/configs/grpo.yaml'), 'utf8'));
    delete config.$schema;
    config.init.checkpoint = join(ROOT, 'examples/checkpoints/student');
    Object.assign(config.trainer, { steps: 2, promptsPerStep: 2 });
    config.eval = { prompts: 8 };
    const file = join(dir, 'grpo-2.json');
    writeFileSync(file, JSON.stringify(config));
    const run = (backend: string) => {
      const r = mmrl(['train', file, '--backend', backend, '--out', dir, '--name', backend]);
      return { ...r, rows: r.status === 0 ? readFileSync(join(dir, backend, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Row) : [] };
    };
    const gpu = run('webgpu');
    if (gpu.status !== 0 && /Could not initialise runtime\.backend "webgpu"/.test(gpu.stderr) && process.env.MMRL_REQUIRE_WEBGPU !== '1') {
      t.skip(`no WebGPU adapter here: ${gpu.stderr.trim().split('\n')[0]}`);
      return;
    }
    assert.equal(gpu.status, 0, gpu.stderr);
    const cpu = run('wasm');
    assert.equal(cpu.status, 0, cpu.stderr);
    assert.match(readFileSync(join(dir, 'webgpu', 'summary.json'), 'utf8'), /"backend": "webgpu"/);
    const rl = (rows: Row[]) => rows.filter((r) => r.phase === 'rl');
    const [g, c] = [rl(gpu.rows), rl(cpu.rows)];
    assert.equal(g.length, 2);
    assert.ok(c[0]!.grad_norm! > 0, 'the first step has a gradient');
    for (let k = 0; k < 2; k++) {
      // Same samples (same seed, same logits to float precision), so the same rewards exactly.
      assert.equal(g[k]!.reward_mean, c[k]!.reward_mean, `reward at step ${k}`);
      const rel = Math.abs(g[k]!.grad_norm! - c[k]!.grad_norm!) / c[k]!.grad_norm!;
      assert.ok(rel < 1e-4, `grad norm at step ${k}: webgpu ${g[k]!.grad_norm} vs wasm ${c[k]!.grad_norm}`);
    }
    // The KL of step 2 is measured after the first update: equal KL means equal weights after Adam.
    assert.ok(c[1]!.kl! > 0);
    assert.ok(Math.abs(g[1]!.kl! - c[1]!.kl!) / c[1]!.kl! < 1e-3, `KL after one update: webgpu ${g[1]!.kl} vs wasm ${c[1]!.kl}`);
    const evals = (rows: Row[]) => rows.filter((r) => r.phase === 'eval').map((r) => r.accuracy);
    assert.deepEqual(evals(gpu.rows), evals(cpu.rows), 'held-out accuracy before and after RL');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
