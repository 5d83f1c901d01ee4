import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';

const gunzipAsync = promisify(gunzip);

/** IDX magic of a 3-d unsigned-byte array (images `[n, rows, cols]`). */
export const IDX_IMAGES_MAGIC = 0x00000803;
/** IDX magic of a 1-d unsigned-byte array (labels `[n]`). */
export const IDX_LABELS_MAGIC = 0x00000801;

/**
 * A malformed IDX file or Fashion-MNIST directory. The message always names the file; `offset` is the byte offset
 * (into the decompressed IDX content) where reading failed, when there is one (not for corrupt gzip streams or
 * missing files).
 */
export class IdxFormatError extends Error {
  override readonly name = 'IdxFormatError';
  constructor(
    message: string,
    /** Path of the offending file. */
    readonly file: string,
    /** Byte offset in the decompressed content where reading failed, if known. */
    readonly offset?: number,
  ) {
    super(message);
  }
}

/** A stack of grey images as stored in an IDX file: `count × rows × cols` bytes, row-major, 0..255. */
export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** `[count, rows, cols]` pixels, 0 = background. */
  pixels: Uint8Array;
}

/** One split of Fashion-MNIST: images and their labels (0..9), same count. */
export interface FashionMnistSplit {
  images: IdxImages;
  /** `[count]` class ids 0..9. */
  labels: Uint8Array;
}

/** The two splits of a Fashion-MNIST directory. */
export interface FashionMnist {
  /** Directory the files were read from (absolute or as given). */
  dir: string;
  train: FashionMnistSplit;
  test: FashionMnistSplit;
}

/** The ten Fashion-MNIST classes, by label id (upstream names: T-shirt/top, …, Ankle boot). */
export const FASHION_MNIST_LABELS = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/**
 * Reads a file and gunzips it when it starts with the gzip magic (0x1f 0x8b); plain files are returned as they are.
 * @throws IdxFormatError naming the file when it cannot be read or its gzip stream is corrupt or truncated.
 */
export async function readMaybeGzip(file: string): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (err) {
    throw new IdxFormatError(`file ${file}: cannot be read: ${(err as Error).message}`, file);
  }
  if (raw.byteLength >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      const out = await gunzipAsync(raw);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch (err) {
      throw new IdxFormatError(
        `file ${file}: corrupt or truncated gzip data (${raw.byteLength} compressed bytes): ${(err as Error).message}`,
        file,
      );
    }
  }
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

/**
 * Parses the (decompressed) content of an IDX file of unsigned bytes with the expected magic.
 * @param bytes decompressed IDX content.
 * @param file path used in error messages.
 * @param magic {@link IDX_IMAGES_MAGIC} or {@link IDX_LABELS_MAGIC}.
 * @returns the dimensions (big-endian uint32 each) and a view of the data bytes (not a copy).
 * @throws IdxFormatError on a bad magic number, a truncated header or truncated data, with the byte offset.
 */
export function parseIdx(bytes: Uint8Array, file: string, magic: number): { dims: number[]; data: Uint8Array } {
  const what = magic === IDX_IMAGES_MAGIC ? 'image' : magic === IDX_LABELS_MAGIC ? 'label' : 'array';
  const ndims = magic & 0xff;
  const headerBytes = 4 + 4 * ndims;
  if (bytes.byteLength < 4) {
    throw new IdxFormatError(
      `file ${file}: truncated at byte ${bytes.byteLength}: expected a 4-byte magic number, the file has ${bytes.byteLength} bytes`,
      file,
      bytes.byteLength,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const found = view.getUint32(0);
  if (found !== magic) {
    throw new IdxFormatError(
      `file ${file}: bad magic number ${hex(found)} at byte 0: expected ${hex(magic)} (IDX ${what} file)`,
      file,
      0,
    );
  }
  if (bytes.byteLength < headerBytes) {
    throw new IdxFormatError(
      `file ${file}: truncated at byte ${bytes.byteLength}: expected a ${headerBytes}-byte header (${ndims} dimensions)`,
      file,
      bytes.byteLength,
    );
  }
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d));
  const length = dims.reduce((a, b) => a * b, 1);
  const available = bytes.byteLength - headerBytes;
  if (available < length) {
    throw new IdxFormatError(
      `file ${file}: truncated at byte ${bytes.byteLength}: expected ${length} bytes of ${what} data ` +
        `(dims [${dims.join(', ')}]) after the ${headerBytes}-byte header, found ${available}`,
      file,
      bytes.byteLength,
    );
  }
  return { dims, data: bytes.subarray(headerBytes, headerBytes + length) };
}

/**
 * Reads an IDX image file (gzipped or plain), magic 0x00000803, dims `[count, rows, cols]`.
 * @throws IdxFormatError naming the file (and the byte offset where parsing failed).
 */
export async function readIdxImages(file: string): Promise<IdxImages> {
  const { dims, data } = parseIdx(await readMaybeGzip(file), file, IDX_IMAGES_MAGIC);
  const [count, rows, cols] = dims as [number, number, number];
  return { count, rows, cols, pixels: data };
}

/**
 * Reads an IDX label file (gzipped or plain), magic 0x00000801, dims `[count]`.
 * @throws IdxFormatError naming the file (and the byte offset where parsing failed).
 */
export async function readIdxLabels(file: string): Promise<Uint8Array> {
  return parseIdx(await readMaybeGzip(file), file, IDX_LABELS_MAGIC).data;
}

/** Encodes an IDX file of unsigned bytes (header + data, not gzipped): for tests and data tools. */
export function encodeIdx(magic: number, dims: readonly number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** `<dir>/<name>.gz` when it exists, else `<dir>/<name>` (which may not exist either: the reader then says so). */
function locate(dir: string, name: string): string {
  const gz = join(dir, `${name}.gz`);
  return existsSync(gz) || !existsSync(join(dir, name)) ? gz : join(dir, name);
}

async function loadSplit(dir: string, prefix: 'train' | 't10k'): Promise<FashionMnistSplit> {
  const imagesFile = locate(dir, `${prefix}-images-idx3-ubyte`);
  const labelsFile = locate(dir, `${prefix}-labels-idx1-ubyte`);
  const [images, labels] = await Promise.all([readIdxImages(imagesFile), readIdxLabels(labelsFile)]);
  if (images.count !== labels.length) {
    throw new IdxFormatError(
      `file ${labelsFile}: has ${labels.length} labels but ${imagesFile} has ${images.count} images`,
      labelsFile,
    );
  }
  if (images.rows !== 28 || images.cols !== 28) {
    throw new IdxFormatError(
      `file ${imagesFile}: images are ${images.rows}×${images.cols}, Fashion-MNIST images are 28×28`,
      imagesFile,
      4,
    );
  }
  const bad = labels.findIndex((l) => l > 9);
  if (bad >= 0) {
    throw new IdxFormatError(
      `file ${labelsFile}: label ${labels[bad]} at byte ${8 + bad} (item ${bad}) is not a class 0..9`,
      labelsFile,
      8 + bad,
    );
  }
  return { images, labels };
}

/**
 * Loads a Fashion-MNIST directory: `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`,
 * `t10k-images-idx3-ubyte[.gz]`, `t10k-labels-idx1-ubyte[.gz]` (the gzipped name is preferred when both exist).
 * Checks that images are 28×28, that each split has as many labels as images and that labels are 0..9.
 * @throws IdxFormatError naming the offending file (missing, corrupt, truncated, mismatched counts).
 */
export async function loadFashionMnist(dir: string): Promise<FashionMnist> {
  const [train, test] = await Promise.all([loadSplit(dir, 'train'), loadSplit(dir, 't10k')]);
  return { dir, train, test };
}
