import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** File names inside a checkpoint directory. */
export const CHECKPOINT_MANIFEST = 'manifest.json';
export const CHECKPOINT_WEIGHTS = 'weights.bin';

/** One named float32 tensor. */
export interface CheckpointTensor {
  name: string;
  shape: number[];
  /** Row-major values, `prod(shape)` of them. */
  data: Float32Array;
}

/** Entry of the manifest's tensor list: where a tensor lives in `weights.bin`. */
export interface CheckpointTensorEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  /** Byte offset in `weights.bin`. */
  offset: number;
  /** Bytes (4 · prod(shape)). */
  byteLength: number;
}

/** `manifest.json` of a checkpoint directory. */
export interface CheckpointManifest {
  /** Format name, e.g. `mmrl-vlm`. */
  format: string;
  /** Format version (integer). */
  version: number;
  /** The architecture that fixes the tensor shapes (format-specific). */
  architecture: Record<string, unknown>;
  /** Token strings by id. */
  vocabulary: string[];
  tensors: CheckpointTensorEntry[];
}

/** What {@link writeCheckpoint} stores. */
export interface CheckpointContents {
  format: string;
  version: number;
  architecture: Record<string, unknown>;
  vocabulary: readonly string[];
  tensors: readonly CheckpointTensor[];
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function littleEndianBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  data.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return out;
}

function fromLittleEndian(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 4);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

async function writeSynced(path: string, data: string | Uint8Array): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes a checkpoint directory (`manifest.json` + `weights.bin`, little-endian float32) atomically: everything is
 * written into a temporary directory beside `dir`, which then replaces `dir` by rename. A reader never sees a
 * half-written checkpoint; an existing `dir` is replaced.
 * @throws Error when a tensor's data length disagrees with its shape.
 */
export async function writeCheckpoint(dir: string, contents: CheckpointContents): Promise<void> {
  const entries: CheckpointTensorEntry[] = [];
  let offset = 0;
  for (const t of contents.tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) {
      throw new Error(`writeCheckpoint: tensor "${t.name}" has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    }
    entries.push({ name: t.name, shape: [...t.shape], dtype: 'float32', offset, byteLength: size * 4 });
    offset += size * 4;
  }
  const weights = new Uint8Array(offset);
  contents.tensors.forEach((t, i) => weights.set(littleEndianBytes(t.data), entries[i]!.offset));
  const manifest: CheckpointManifest = {
    format: contents.format,
    version: contents.version,
    architecture: contents.architecture,
    vocabulary: [...contents.vocabulary],
    tensors: entries,
  };
  await writeDirectoryAtomic(dir, async (tmp) => {
    await writeSynced(join(tmp, CHECKPOINT_WEIGHTS), weights);
    await writeSynced(join(tmp, CHECKPOINT_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  });
}

/**
 * Fills a temporary directory beside `dir` with `fill`, then puts it in place of `dir` by rename (an existing `dir`
 * is replaced only once the new one is complete). A reader never sees a half-written directory; on failure the
 * temporary directory is removed and `dir` is left as it was.
 */
export async function writeDirectoryAtomic(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const target = resolve(dir);
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = join(parent, `.${basename(target)}.tmp-${suffix}`);
  try {
    await mkdir(tmp);
    await fill(tmp);
    if (existsSync(target)) {
      const old = join(parent, `.${basename(target)}.old-${suffix}`);
      await rename(target, old);
      try {
        await rename(tmp, target);
      } catch (e) {
        await rename(old, target);
        throw e;
      }
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, target);
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Writes a file and fsyncs it. */
export { writeSynced as writeFileSynced };

/**
 * Reads a checkpoint directory written by {@link writeCheckpoint}.
 * @param expectedFormat when given, the manifest's format must equal it.
 * @returns the manifest and the tensors by name.
 * @throws Error naming the path when the directory or a file is missing, the format differs, or `weights.bin` is
 *   shorter than the manifest says.
 */
export async function readCheckpoint(
  dir: string,
  expectedFormat?: string,
): Promise<{ manifest: CheckpointManifest; tensors: Map<string, CheckpointTensor> }> {
  const path = resolve(dir);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new Error(`Checkpoint not found: ${path} does not exist`);
  if (!info.isDirectory()) throw new Error(`Checkpoint ${path} is not a directory`);
  const manifestPath = join(path, CHECKPOINT_MANIFEST);
  const weightsPath = join(path, CHECKPOINT_WEIGHTS);
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as CheckpointManifest;
  } catch (e) {
    throw new Error(`Checkpoint ${path}: cannot read ${CHECKPOINT_MANIFEST}: ${(e as Error).message}`);
  }
  if (expectedFormat !== undefined && manifest.format !== expectedFormat) {
    throw new Error(`Checkpoint ${path}: format "${manifest.format}", expected "${expectedFormat}"`);
  }
  if (!Array.isArray(manifest.tensors)) throw new Error(`Checkpoint ${path}: ${CHECKPOINT_MANIFEST} has no tensor list`);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(weightsPath);
  } catch (e) {
    throw new Error(`Checkpoint ${path}: cannot read ${CHECKPOINT_WEIGHTS}: ${(e as Error).message}`);
  }
  const tensors = new Map<string, CheckpointTensor>();
  for (const entry of manifest.tensors) {
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (entry.dtype !== 'float32' || entry.byteLength !== count * 4 || entry.offset + entry.byteLength > bytes.length) {
      throw new Error(`Checkpoint ${path}: tensor "${entry.name}" does not fit ${CHECKPOINT_WEIGHTS} (${bytes.length} bytes)`);
    }
    tensors.set(entry.name, { name: entry.name, shape: [...entry.shape], data: fromLittleEndian(bytes, entry.offset, count) });
  }
  return { manifest, tensors };
}
