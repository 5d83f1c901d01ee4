import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setUpWebGpu } from '../../src/runtime/backend.js';

const BACKEND_MODULE = fileURLToPath(new URL('../../src/runtime/backend.ts', import.meta.url));

test('webgpu set-up: Dawn globals and navigator.gpu exist before the backend module is evaluated (GPU.md)', async () => {
  const saved = (globalThis as { navigator?: unknown }).navigator;
  const events: string[] = [];
  const fakeGpu = { requestAdapter: async () => ({ features: new Set() }) };
  const importer = async (specifier: string) => {
    if (specifier === 'webgpu') {
      events.push('import webgpu');
      return { create: (toggles: string[]) => (events.push(`create ${toggles.join(',')}`), fakeGpu), globals: { GPUBufferUsage: { MAP_READ: 1 } } };
    }
    // What the real backend module checks at evaluation time.
    const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
    events.push(`import ${specifier} (navigator.gpu ${nav?.gpu === fakeGpu ? 'set' : 'missing'})`);
    return {};
  };
  try {
    await setUpWebGpu(importer, ['enable-dawn-features=allow_unsafe_apis']);
    assert.deepEqual(events, [
      'import webgpu',
      'create enable-dawn-features=allow_unsafe_apis',
      'import @tensorflow/tfjs-backend-webgpu (navigator.gpu set)',
    ]);
    assert.deepEqual((globalThis as unknown as { GPUBufferUsage: unknown }).GPUBufferUsage, { MAP_READ: 1 });
  } finally {
    (globalThis as { navigator?: unknown }).navigator = saved;
    delete (globalThis as { GPUBufferUsage?: unknown }).GPUBufferUsage;
  }
});

test('webgpu set-up: a missing package is named; a package without create/globals is refused', async () => {
  await assert.rejects(
    setUpWebGpu(async () => {
      throw new Error("Cannot find package 'webgpu'");
    }),
    /needs the package "webgpu" \(Dawn\): Cannot find package 'webgpu'/,
  );
  await assert.rejects(setUpWebGpu(async () => ({})), /does not export create\(\) and globals/);
  const saved = (globalThis as { navigator?: unknown }).navigator;
  try {
    await assert.rejects(
      setUpWebGpu(async (s) => {
        if (s === 'webgpu') return { create: () => ({ requestAdapter: async () => ({}) }), globals: {} };
        throw new Error('not installed');
      }),
      /needs "@tensorflow\/tfjs-backend-webgpu": not installed/,
    );
  } finally {
    (globalThis as { navigator?: unknown }).navigator = saved;
  }
});

test('webgpu set-up: Dawn without an adapter is refused with the reason (tfjs would only log and fall back to cpu)', async () => {
  const saved = (globalThis as { navigator?: unknown }).navigator;
  try {
    await assert.rejects(
      setUpWebGpu(async (s) => {
        if (s === 'webgpu') return { create: () => ({ requestAdapter: async () => null }), globals: {} };
        throw new Error('the backend module must not be evaluated without an adapter');
      }),
      /Dawn found no GPU adapter/,
    );
  } finally {
    (globalThis as { navigator?: unknown }).navigator = saved;
  }
});

test('initBackend("webgpu") where Vulkan has no driver fails with the reason, never a silent CPU fallback', () => {
  // A child process whose Vulkan loader finds no driver: Dawn installed, no adapter.
  const script = `import { initBackend } from ${JSON.stringify(BACKEND_MODULE)};
    try { await initBackend('webgpu'); console.log('initialised'); } catch (e) { console.log(e.message); }`;
  const r = spawnSync(process.execPath, ['--conditions=@mmrl/source', '--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_DRIVER_FILES: '/nonexistent/icd.json', XDG_RUNTIME_DIR: '/tmp' },
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Could not initialise runtime\.backend "webgpu": webgpu: (runtime\.backend "webgpu": Dawn found no GPU adapter|runtime\.backend "webgpu" needs the package)/);
});
