import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, setUpWebGpu } from '../../src/runtime/backend.js';

test('webgpu set-up: Dawn globals and navigator.gpu exist before the backend module is evaluated (GPU.md)', async () => {
  const saved = (globalThis as { navigator?: unknown }).navigator;
  const events: string[] = [];
  const fakeGpu = { requestAdapter: async () => null };
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
        if (s === 'webgpu') return { create: () => ({}), globals: {} };
        throw new Error('not installed');
      }),
      /needs "@tensorflow\/tfjs-backend-webgpu": not installed/,
    );
  } finally {
    (globalThis as { navigator?: unknown }).navigator = saved;
  }
});

test('initBackend("webgpu") without Dawn installed fails with the reason, never a silent CPU fallback', async () => {
  await assert.rejects(initBackend('webgpu'), /Could not initialise runtime.backend "webgpu": webgpu: runtime.backend "webgpu" needs/);
});
