import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { defineStrategy, deriveSeed, Rng, type Prompt, type Task } from '@mmrl/core';
import { loadFashionMnist, type FashionMnist, type FashionMnistSplit } from './idx.js';

/** The ten Fashion-MNIST classes as single vocabulary tokens, indexed by label id. */
export const SHELF_CLASS_TOKENS = [
  't-shirt',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'boot',
] as const;

/** Question types of the fashion-shelf task. */
export type ShelfQuestionType = 'count' | 'total';

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

/**
 * Every token a fashion-shelf question or oracle response uses (fixed, whatever the options: a policy trained on one
 * question mix can be evaluated on another).
 */
export const FASHION_SHELF_VOCABULARY: readonly string[] = [
  '<description>',
  '</description>',
  '<think>',
  '</think>',
  '\\boxed{',
  '}',
  ...DIGITS,
  '+',
  '=',
  '?',
  'how',
  'many',
  'prices',
  'total',
  ...SHELF_CLASS_TOKENS,
  // IVR-R1 re-reasoning turns (critique and rectification formats).
  'response',
  'critique',
  'rectify',
  'slot',
  'is',
  'not',
  'ok',
];

/** Value of `dataDir` that selects the subset committed in `examples/data/fashion-mnist`. */
export const EMBEDDED_DATA_DIR = 'embedded';

/** Options of the `fashion-shelf` task. */
export const fashionShelfOptionsSchema = Type.Object(
  {
    dataDir: Type.String({
      minLength: 1,
      default: EMBEDDED_DATA_DIR,
      description:
        "Fashion-MNIST directory (gzipped or plain IDX files with the original names). 'embedded' = the subset " +
        'committed in examples/data/fashion-mnist; a relative path resolves against the config file directory.',
    }),
    slots: Type.Integer({ minimum: 1, maximum: 16, default: 3, description: 'K: items on the shelf (image width 28·K).' }),
    questions: Type.Array(Type.Union([Type.Literal('count'), Type.Literal('total')]), {
      minItems: 1,
      default: ['count'],
      description: 'Question types, each prompt draws one uniformly.',
    }),
    maxPrice: Type.Integer({
      minimum: 1,
      maximum: 99,
      default: 9,
      description: "'total' questions list a price 1..maxPrice for each class.",
    }),
  },
  { additionalProperties: false },
);

export type FashionShelfOptions = Static<typeof fashionShelfOptionsSchema>;

const DEFAULT_OPTIONS: FashionShelfOptions = {
  dataDir: EMBEDDED_DATA_DIR,
  slots: 3,
  questions: ['count'],
  maxPrice: 9,
};

/** `Prompt.meta` of a fashion-shelf prompt. */
export type FashionShelfMeta = {
  type: ShelfQuestionType;
  /** K. */
  slots: number;
  /** Class id (0..9) of each slot, left to right. */
  slotLabels: number[];
  /** Class token of each slot. */
  slotClasses: string[];
  /** Index of each slot's image in its split's image file. */
  imageIndices: number[];
  /** `count`: the class asked about. */
  target?: string;
  /** `count`: its class id. */
  targetLabel?: number;
  /** `total`: the listed price of each class id 0..9. */
  prices?: number[];
};

/**
 * Directory of the Fashion-MNIST subset committed with the repository: walks up from this module's location (source
 * or built `dist/`) to the first ancestor holding `examples/data/fashion-mnist/train-images-idx3-ubyte.gz`.
 * @throws Error when no ancestor has it (e.g. an installed package outside the repository: pass `dataDir`).
 */
export function embeddedFashionMnistDir(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, 'examples', 'data', 'fashion-mnist');
    if (existsSync(join(candidate, 'train-images-idx3-ubyte.gz'))) return candidate;
    if (dirname(dir) === dir) {
      throw new Error(
        `fashion-shelf: the embedded Fashion-MNIST subset (examples/data/fashion-mnist) was not found above ${start}; ` +
          "set the task option 'dataDir' to a Fashion-MNIST directory",
      );
    }
  }
}

/** Resolves the `dataDir` option: 'embedded' → {@link embeddedFashionMnistDir}; relative paths against `baseDir`. */
export function resolveDataDir(dataDir: string, baseDir: string): string {
  if (dataDir === EMBEDDED_DATA_DIR) return embeddedFashionMnistDir();
  return isAbsolute(dataDir) ? dataDir : resolve(baseDir, dataDir);
}

const cache = new Map<string, Promise<FashionMnist>>();

/** Loads a Fashion-MNIST directory once per process (by resolved path); a failed load is not cached. */
function loadCached(dir: string): Promise<FashionMnist> {
  let pending = cache.get(dir);
  if (pending === undefined) {
    pending = loadFashionMnist(dir);
    cache.set(dir, pending);
    pending.catch(() => cache.delete(dir));
  }
  return pending;
}

/**
 * Probability of the most likely shelf total when the `slots` items are drawn uniformly over the 10 classes and class
 * `c` costs `prices[c]`: the best accuracy from the question alone (exact convolution of the price distribution).
 */
export function totalBlindAccuracy(prices: readonly number[], slots: number): number {
  const maxPrice = Math.max(...prices);
  const perSlot = new Float64Array(maxPrice + 1);
  for (const p of prices) perSlot[p]! += 1 / prices.length;
  let dist = Float64Array.of(1);
  for (let s = 0; s < slots; s++) {
    const next = new Float64Array(dist.length + maxPrice);
    for (let a = 0; a < dist.length; a++) {
      if (dist[a] === 0) continue;
      for (let p = 0; p <= maxPrice; p++) next[a + p]! += dist[a]! * perSlot[p]!;
    }
    dist = next;
  }
  return Math.max(...dist);
}

function shelfMeta(prompt: Prompt): FashionShelfMeta {
  const meta = prompt.meta as Partial<FashionShelfMeta>;
  if ((meta.type !== 'count' && meta.type !== 'total') || !Array.isArray(meta.slotLabels)) {
    throw new Error(`fashion-shelf: prompt ${prompt.id} is not a fashion-shelf prompt (meta.type ${String(meta.type)})`);
  }
  return meta as FashionShelfMeta;
}

/**
 * The fashion-shelf task (DESIGN.md, "Data"). An image is a shelf of K Fashion-MNIST items side by side,
 * `[28, 28·K]`, values in [0, 1]; training prompts use training images only, test prompts test images only.
 *
 * - `count`: "how many coat ?" — the count c is uniform over 0..K, c slots (random positions) hold the class, the
 *   others hold items of other classes; answer c. Blind baseline 1 / (K + 1).
 * - `total`: "prices t-shirt 3 trouser 5 … boot 2 total ?" — slots uniform over classes, answer the sum of the slot
 *   prices. Blind baseline: the probability of the most likely total under the listed prices.
 *
 * Prompt `i` of `prompts(split, n, seed)` depends only on (split, seed, i): a longer list extends a shorter one.
 */
export class FashionShelfTask implements Task {
  readonly imageShape: readonly [number, number];
  readonly options: Readonly<FashionShelfOptions>;
  private readonly byClass: Record<'train' | 'test', Int32Array[]>;

  /**
   * @param data a loaded Fashion-MNIST directory (see `loadFashionMnist`).
   * @param options task options; missing knobs take their defaults (`dataDir` is not used here).
   * @throws Error on invalid options or a split lacking a class.
   */
  constructor(
    private readonly data: FashionMnist,
    options: Partial<FashionShelfOptions> = {},
  ) {
    const o = { ...DEFAULT_OPTIONS, ...options };
    if (!Number.isInteger(o.slots) || o.slots < 1) throw new Error(`fashion-shelf: slots must be an integer ≥ 1, got ${o.slots}`);
    if (!Number.isInteger(o.maxPrice) || o.maxPrice < 1) {
      throw new Error(`fashion-shelf: maxPrice must be an integer ≥ 1, got ${o.maxPrice}`);
    }
    if (o.questions.length === 0 || o.questions.some((q) => q !== 'count' && q !== 'total')) {
      throw new Error(`fashion-shelf: questions must be a non-empty list of 'count' | 'total', got ${JSON.stringify(o.questions)}`);
    }
    this.options = o;
    this.imageShape = [data.train.images.rows, data.train.images.cols * o.slots];
    this.byClass = { train: indexByClass(data.train, data.dir, 'train'), test: indexByClass(data.test, data.dir, 'test') };
  }

  /**
   * Loads the data (once per process and directory) and builds the task.
   * @param baseDir directory a relative `dataDir` resolves against.
   * @throws IdxFormatError when the data directory is missing or malformed.
   */
  static async load(options: Partial<FashionShelfOptions> = {}, baseDir = process.cwd()): Promise<FashionShelfTask> {
    const dir = resolveDataDir(options.dataDir ?? DEFAULT_OPTIONS.dataDir, baseDir);
    return new FashionShelfTask(await loadCached(dir), options);
  }

  vocabulary(): readonly string[] {
    return FASHION_SHELF_VOCABULARY;
  }

  prompts(split: 'train' | 'test', count: number, seed: number): Prompt[] {
    if (split !== 'train' && split !== 'test') throw new Error(`fashion-shelf: unknown split ${JSON.stringify(split)}`);
    const out: Prompt[] = [];
    for (let i = 0; i < count; i++) out.push(this.prompt(split, seed, i));
    return out;
  }

  private prompt(split: 'train' | 'test', seed: number, index: number): Prompt {
    const rng = new Rng(deriveSeed(seed, 'fashion-shelf', split, index));
    const { slots: k, questions, maxPrice } = this.options;
    const type = questions[rng.int(questions.length)]!;
    const slotLabels: number[] = [];
    let question: string;
    let answer: number;
    const meta: Partial<FashionShelfMeta> = { type, slots: k };
    if (type === 'count') {
      const target = rng.int(10);
      const c = rng.int(k + 1);
      const positions = rng.shuffle(Array.from({ length: k }, (_, s) => s));
      const chosen = new Set(positions.slice(0, c));
      for (let s = 0; s < k; s++) {
        if (chosen.has(s)) slotLabels.push(target);
        else {
          const other = rng.int(9);
          slotLabels.push(other >= target ? other + 1 : other);
        }
      }
      question = `how many ${SHELF_CLASS_TOKENS[target]} ?`;
      answer = c;
      meta.target = SHELF_CLASS_TOKENS[target];
      meta.targetLabel = target;
    } else {
      const prices = Array.from({ length: 10 }, () => 1 + rng.int(maxPrice));
      for (let s = 0; s < k; s++) slotLabels.push(rng.int(10));
      question = `prices ${SHELF_CLASS_TOKENS.map((name, c) => `${name} ${prices[c]}`).join(' ')} total ?`;
      answer = slotLabels.reduce((sum, l) => sum + prices[l]!, 0);
      meta.prices = prices;
    }
    const pool = this.byClass[split];
    const imageIndices = slotLabels.map((l) => pool[l]![rng.int(pool[l]!.length)]!);
    meta.slotLabels = slotLabels;
    meta.slotClasses = slotLabels.map((l) => SHELF_CLASS_TOKENS[l]!);
    meta.imageIndices = imageIndices;
    return {
      id: `${split}-${seed}-${index}`,
      split,
      image: this.shelfImage(split === 'train' ? this.data.train : this.data.test, imageIndices),
      imageShape: this.imageShape,
      question,
      answer: String(answer),
      meta: meta as FashionShelfMeta,
    };
  }

  /** Places the items side by side: `[rows, cols·K]` row-major, pixel / 255. */
  private shelfImage(data: FashionMnistSplit, indices: readonly number[]): Float32Array {
    const { rows, cols, pixels } = data.images;
    const width = cols * indices.length;
    const image = new Float32Array(rows * width);
    indices.forEach((idx, s) => {
      const base = idx * rows * cols;
      for (let r = 0; r < rows; r++) {
        for (let x = 0; x < cols; x++) image[r * width + s * cols + x] = pixels[base + r * cols + x]! / 255;
      }
    });
    return image;
  }

  /**
   * `<description> coat shirt shirt </description> <think> 0 + 1 + 1 = 2 </think> \boxed{ 2 }`: the slot classes,
   * then one term per slot (count: 1 when the slot holds the asked class, else 0; total: the slot's price) and the sum.
   * @throws Error when the prompt is not a fashion-shelf prompt.
   */
  oracleResponse(prompt: Prompt): string {
    const meta = shelfMeta(prompt);
    const terms =
      meta.type === 'count'
        ? meta.slotLabels.map((l) => (l === meta.targetLabel ? 1 : 0))
        : meta.slotLabels.map((l) => meta.prices![l]!);
    const sum = terms.reduce((a, b) => a + b, 0);
    return (
      `<description> ${meta.slotClasses.join(' ')} </description> ` +
      `<think> ${terms.join(' + ')} = ${sum} </think> \\boxed{ ${sum} }`
    );
  }

  /**
   * The critique turn's question (IVR-R1, METHODS.md §4.3 step 5): `<question> response <failed> critique ?`; the
   * image is given again with it.
   */
  critiqueQuestion(prompt: Prompt, failedResponse: string): string {
    return `${prompt.question} response ${failedResponse} critique ?`;
  }

  /** The rectification turn's question (§4.3 step 6): `<question> response <failed> critique <critique> rectify ?`. */
  rectificationQuestion(prompt: Prompt, failedResponse: string, critique: string): string {
    return `${prompt.question} response ${failedResponse} critique ${critique} rectify ?`;
  }

  /**
   * The correct critique of a failed response: one verdict per slot, comparing the response's description with what
   * the image shows — `slot 1 ok slot 2 is shirt not coat slot 3 is bag` (`ok` when the described class is right,
   * `is <true> not <described>` when wrong, `is <true>` when the description has no item for that slot). The
   * visual facts only: the arithmetic is left to the rectification.
   */
  oracleCritique(prompt: Prompt, failedResponse: string): string {
    const meta = shelfMeta(prompt);
    const described = describedClasses(failedResponse);
    return meta.slotClasses
      .map((actual, s) => {
        const said = described[s];
        if (said === actual) return `slot ${s + 1} ok`;
        return said === undefined ? `slot ${s + 1} is ${actual}` : `slot ${s + 1} is ${actual} not ${said}`;
      })
      .join(' ');
  }

  /**
   * A plausible failed response (SFT data for the critique and rectification turns): the oracle trace with 1..K
   * slots misperceived (the arithmetic consistent with the wrong description, as a model that misread the image
   * writes it), or, one time in four, the right description with one wrong term in the arithmetic.
   */
  corruptResponse(prompt: Prompt, rng: Rng): string {
    const meta = shelfMeta(prompt);
    const k = meta.slotLabels.length;
    let labels = [...meta.slotLabels];
    const termOf = (l: number) => (meta.type === 'count' ? (l === meta.targetLabel ? 1 : 0) : meta.prices![l]!);
    let terms: number[];
    if (rng.next() < 0.25) {
      terms = labels.map(termOf);
      const s = rng.int(k);
      terms[s] = meta.type === 'count' ? 1 - terms[s]! : 1 + ((terms[s]! + rng.int(Math.max(1, this.options.maxPrice - 1))) % this.options.maxPrice);
    } else {
      const wrong = 1 + rng.int(k);
      const slots = rng.shuffle(Array.from({ length: k }, (_, s) => s)).slice(0, wrong);
      labels = labels.map((l, s) => {
        if (!slots.includes(s)) return l;
        // For count questions, half the misreadings confuse the asked class with another (the errors that matter).
        if (meta.type === 'count' && rng.next() < 0.5) return l === meta.targetLabel ? (l + 1 + rng.int(9)) % 10 : meta.targetLabel!;
        return (l + 1 + rng.int(9)) % 10;
      });
      terms = labels.map(termOf);
    }
    const sum = terms.reduce((a, b) => a + b, 0);
    return (
      `<description> ${labels.map((l) => SHELF_CLASS_TOKENS[l]).join(' ')} </description> ` +
      `<think> ${terms.join(' + ')} = ${sum} </think> \\boxed{ ${sum} }`
    );
  }

  /** Mean over prompts of the best question-only accuracy (count: 1/(K+1); total: see {@link totalBlindAccuracy}); 0 for none. */
  blindBaseline(prompts: readonly Prompt[]): number {
    if (prompts.length === 0) return 0;
    let sum = 0;
    for (const prompt of prompts) {
      const meta = shelfMeta(prompt);
      sum += meta.type === 'count' ? 1 / (meta.slots + 1) : totalBlindAccuracy(meta.prices!, meta.slots);
    }
    return sum / prompts.length;
  }
}

/** The class tokens of a response's `<description>` span, in order (empty when it has none). */
export function describedClasses(response: string): string[] {
  const m = /<description>([\s\S]*?)<\/description>/.exec(response);
  if (!m) return [];
  return m[1]!.split(/\s+/).filter((w) => (SHELF_CLASS_TOKENS as readonly string[]).includes(w));
}

function indexByClass(split: FashionMnistSplit, dir: string, name: string): Int32Array[] {
  const lists: number[][] = Array.from({ length: 10 }, () => []);
  split.labels.forEach((label, i) => lists[label]!.push(i));
  const empty = lists.findIndex((l) => l.length === 0);
  if (empty >= 0) {
    throw new Error(`fashion-shelf: the ${name} split in ${dir} has no image of class ${empty} (${SHELF_CLASS_TOKENS[empty]})`);
  }
  return lists.map((l) => Int32Array.from(l));
}

/** The `fashion-shelf` task strategy: loads the data once (async) and returns a {@link FashionShelfTask}. */
export const fashionShelfTask = defineStrategy({
  kind: 'task',
  name: 'fashion-shelf',
  optionsSchema: fashionShelfOptionsSchema,
  docs: {
    summary:
      'Shelves of K Fashion-MNIST items [28, 28·K]: count one class (answer uniform over 0..K) or total the listed ' +
      'prices; numeric answers, oracle traces <description> … </description> <think> … </think> \\boxed{n}.',
  },
  create: (options, ctx) => FashionShelfTask.load(options, ctx.baseDir),
});
