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
export type ShelfQuestionType = 'count' | 'total' | 'compare' | 'which-slot';

/** Every question type, in the order of the schema. */
export const SHELF_QUESTION_TYPES: readonly ShelfQuestionType[] = ['count', 'total', 'compare', 'which-slot'];

/** How the `<description>` names the items: `classes` = `coat shirt`, `slots` = `slot 1 coat slot 2 shirt`. */
export type ShelfDescription = 'classes' | 'slots';

/**
 * How the `<think>` span adds its terms: `sum` = `0 + 1 + 1 = 2`; `steps` = one running sum per term,
 * `0 + 1 = 1 , 1 + 1 = 2` (about 3× the tokens of `sum`: reasoning long enough for token-position effects).
 */
export type ShelfReasoning = 'sum' | 'steps';

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

/**
 * Tokens that only the `compare` and `which-slot` questions and `reasoning: steps` use (`,` separates the sums of a
 * trace: digits are single tokens, so `= 1 0 + 0` would read as `= 10 + 0`). They are appended to the vocabulary only
 * when the options ask for one of those (or `vocabulary: extended`), so the vocabulary, and with it every checkpoint
 * trained on count/total shelves, is unchanged for today's configs.
 */
export const FASHION_SHELF_EXTENDED_TOKENS: readonly string[] = ['-', ',', 'more', 'than', 'which', 'holds'];

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
    questions: Type.Array(Type.Union(SHELF_QUESTION_TYPES.map((q) => Type.Literal(q))), {
      minItems: 1,
      default: ['count'],
      description:
        "Question types, each prompt draws one uniformly: 'count' (how many <class>), 'total' (sum of listed " +
        "prices), 'compare' (how many more <A> than <B>), 'which-slot' (which slot holds <class>, 1..K).",
    }),
    description: Type.Union([Type.Literal('classes'), Type.Literal('slots')], {
      default: 'classes',
      description: "Oracle description: 'classes' = `coat shirt`; 'slots' = `slot 1 coat slot 2 shirt` (3× the tokens).",
    }),
    reasoning: Type.Union([Type.Literal('sum'), Type.Literal('steps')], {
      default: 'sum',
      description: "Oracle reasoning: 'sum' = `0 + 1 + 1 = 2`; 'steps' = a running sum per term `0 + 1 = 1 , 1 + 1 = 2`.",
    }),
    vocabulary: Type.Union([Type.Literal('auto'), Type.Literal('extended')], {
      default: 'auto',
      description:
        "'auto' appends the compare/which-slot tokens only when `questions` uses them; 'extended' always (a policy " +
        'meant for both question mixes).',
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
  description: 'classes',
  reasoning: 'sum',
  vocabulary: 'auto',
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
  /** `count`, `which-slot`: the class asked about; `compare`: the class A of "how many more A than B". */
  target?: string;
  /** Its class id. */
  targetLabel?: number;
  /** `compare`: the class B. */
  versus?: string;
  /** `compare`: its class id. */
  versusLabel?: number;
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
  if (!SHELF_QUESTION_TYPES.includes(meta.type as ShelfQuestionType) || !Array.isArray(meta.slotLabels)) {
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
 * - `compare`: "how many more coat than shirt ?" — the difference d is uniform over 0..K, then B's count b uniform
 *   over 0..⌊(K − d)/2⌋ and A's count b + d; the other slots hold neither class; answer d. Blind baseline 1/(K + 1).
 *   The oracle counts both classes, then subtracts: `<think> 1 + 0 + 1 = 2 , 0 + 1 + 0 = 1 , 2 - 1 = 1 </think>`.
 * - `which-slot`: "which slot holds coat ?" — exactly one slot, uniform over 1..K, holds the class; answer its
 *   position. Blind baseline 1/K. The oracle adds each slot's position when it holds the class:
 *   `<think> 0 + 2 + 0 = 2 </think>`.
 *
 * Difficulty knobs: `slots` (more items to perceive and longer sums), the question mix (`compare` needs two counts
 * and a subtraction), `description: slots` (longer descriptions), `reasoning: steps` (longer reasoning).
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
    if (o.questions.length === 0 || o.questions.some((q) => !SHELF_QUESTION_TYPES.includes(q))) {
      throw new Error(
        `fashion-shelf: questions must be a non-empty list of ${SHELF_QUESTION_TYPES.map((q) => `'${q}'`).join(' | ')}, ` +
          `got ${JSON.stringify(o.questions)}`,
      );
    }
    if (o.description !== 'classes' && o.description !== 'slots') {
      throw new Error(`fashion-shelf: description must be 'classes' or 'slots', got ${JSON.stringify(o.description)}`);
    }
    if (o.reasoning !== 'sum' && o.reasoning !== 'steps') {
      throw new Error(`fashion-shelf: reasoning must be 'sum' or 'steps', got ${JSON.stringify(o.reasoning)}`);
    }
    if (o.vocabulary !== 'auto' && o.vocabulary !== 'extended') {
      throw new Error(`fashion-shelf: vocabulary must be 'auto' or 'extended', got ${JSON.stringify(o.vocabulary)}`);
    }
    if (o.questions.includes('compare') && o.slots < 2) {
      throw new Error(`fashion-shelf: 'compare' questions need slots ≥ 2 (two classes to compare), got ${o.slots}`);
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

  /**
   * {@link FASHION_SHELF_VOCABULARY}, followed by {@link FASHION_SHELF_EXTENDED_TOKENS} when `questions` includes
   * `compare` or `which-slot`, `reasoning` is `steps`, or `vocabulary` is `extended`.
   */
  vocabulary(): readonly string[] {
    const { questions, vocabulary, reasoning } = this.options;
    const extended =
      vocabulary === 'extended' || reasoning === 'steps' || questions.includes('compare') || questions.includes('which-slot');
    return extended ? [...FASHION_SHELF_VOCABULARY, ...FASHION_SHELF_EXTENDED_TOKENS] : FASHION_SHELF_VOCABULARY;
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
    } else if (type === 'compare') {
      const target = rng.int(10);
      const v = rng.int(9);
      const versus = v >= target ? v + 1 : v;
      const d = rng.int(k + 1);
      const b = rng.int(Math.floor((k - d) / 2) + 1);
      const positions = rng.shuffle(Array.from({ length: k }, (_, s) => s));
      const ofA = new Set(positions.slice(0, b + d));
      const ofB = new Set(positions.slice(b + d, 2 * b + d));
      const [lo, hi] = target < versus ? [target, versus] : [versus, target];
      for (let s = 0; s < k; s++) {
        if (ofA.has(s)) slotLabels.push(target);
        else if (ofB.has(s)) slotLabels.push(versus);
        else {
          // One of the 8 classes that are neither A nor B, uniformly.
          let other = rng.int(8);
          if (other >= lo) other++;
          if (other >= hi) other++;
          slotLabels.push(other);
        }
      }
      question = `how many more ${SHELF_CLASS_TOKENS[target]} than ${SHELF_CLASS_TOKENS[versus]} ?`;
      answer = d;
      meta.target = SHELF_CLASS_TOKENS[target];
      meta.targetLabel = target;
      meta.versus = SHELF_CLASS_TOKENS[versus];
      meta.versusLabel = versus;
    } else if (type === 'which-slot') {
      const target = rng.int(10);
      const position = rng.int(k);
      for (let s = 0; s < k; s++) {
        if (s === position) slotLabels.push(target);
        else {
          const other = rng.int(9);
          slotLabels.push(other >= target ? other + 1 : other);
        }
      }
      question = `which slot holds ${SHELF_CLASS_TOKENS[target]} ?`;
      answer = position + 1;
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
    return this.trace(meta.slotLabels, shelfTerms(meta, meta.slotLabels));
  }

  /**
   * A response from the described slot labels and the term lists of its sums (one list; two for `compare`, whose
   * answer is the first sum minus the second), in the task's `description` and `reasoning` formats.
   */
  private trace(labels: readonly number[], terms: readonly (readonly number[])[]): string {
    const { description, reasoning } = this.options;
    const items = labels.map((l, s) => (description === 'slots' ? `slot ${s + 1} ${SHELF_CLASS_TOKENS[l]}` : SHELF_CLASS_TOKENS[l]));
    const parts: string[] = [];
    const sums = terms.map((list) => {
      const { text, sum } = reasoning === 'steps' ? runningSum(list) : plainSum(list);
      parts.push(text);
      return sum;
    });
    let answer = sums[0]!;
    if (sums.length === 2) {
      answer = sums[0]! - sums[1]!;
      parts.push(`${sums[0]} - ${sums[1]} = ${answer}`);
    }
    return `<description> ${items.join(' ')} </description> <think> ${parts.join(' , ')} </think> \\boxed{ ${answer} }`;
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
    if (rng.next() < 0.25) {
      const terms = shelfTerms(meta, labels).map((list) => [...list]);
      const s = rng.int(k);
      const first = terms[0]!;
      if (meta.type === 'total') {
        first[s] = 1 + ((first[s]! + rng.int(Math.max(1, this.options.maxPrice - 1))) % this.options.maxPrice);
      } else if (meta.type === 'which-slot') {
        first[s] = first[s] === 0 ? s + 1 : 0;
      } else {
        first[s] = 1 - first[s]!;
      }
      return this.trace(labels, terms);
    }
    const wrong = 1 + rng.int(k);
    const slots = rng.shuffle(Array.from({ length: k }, (_, s) => s)).slice(0, wrong);
    labels = labels.map((l, s) => {
      if (!slots.includes(s)) return l;
      // For count-like questions, half the misreadings confuse the asked class with another (the errors that matter).
      if (meta.type !== 'total' && rng.next() < 0.5) return l === meta.targetLabel ? (l + 1 + rng.int(9)) % 10 : meta.targetLabel!;
      return (l + 1 + rng.int(9)) % 10;
    });
    return this.trace(labels, shelfTerms(meta, labels));
  }

  /**
   * Mean over prompts of the best question-only accuracy (count, compare: 1/(K+1); which-slot: 1/K; total: see
   * {@link totalBlindAccuracy}); 0 for none.
   */
  blindBaseline(prompts: readonly Prompt[]): number {
    if (prompts.length === 0) return 0;
    let sum = 0;
    for (const prompt of prompts) {
      const meta = shelfMeta(prompt);
      if (meta.type === 'total') sum += totalBlindAccuracy(meta.prices!, meta.slots);
      else if (meta.type === 'which-slot') sum += 1 / meta.slots;
      else sum += 1 / (meta.slots + 1);
    }
    return sum / prompts.length;
  }
}

/**
 * The terms the oracle adds for slot labels `labels` (the true ones, or a misreading's): count: 1 where the slot holds
 * the asked class; total: each slot's price; which-slot: the slot's position (1-based) where it holds the class;
 * compare: two lists, the indicator of A and the indicator of B.
 */
export function shelfTerms(meta: FashionShelfMeta, labels: readonly number[]): number[][] {
  switch (meta.type) {
    case 'count':
      return [labels.map((l) => (l === meta.targetLabel ? 1 : 0))];
    case 'total':
      return [labels.map((l) => meta.prices![l]!)];
    case 'which-slot':
      return [labels.map((l, s) => (l === meta.targetLabel ? s + 1 : 0))];
    case 'compare':
      return [labels.map((l) => (l === meta.targetLabel ? 1 : 0)), labels.map((l) => (l === meta.versusLabel ? 1 : 0))];
  }
}

/** `3 + 5 + 2 = 10`; one term: `3 = 3`. */
function plainSum(terms: readonly number[]): { text: string; sum: number } {
  const sum = terms.reduce((a, b) => a + b, 0);
  return { text: `${terms.join(' + ')} = ${sum}`, sum };
}

/** `3 + 5 = 8 , 8 + 2 = 10`: one step per term after the first; one term: `3 = 3`. */
function runningSum(terms: readonly number[]): { text: string; sum: number } {
  if (terms.length < 2) return plainSum(terms);
  const steps: string[] = [];
  let sum = terms[0]!;
  for (const t of terms.slice(1)) {
    steps.push(`${sum} + ${t} = ${sum + t}`);
    sum += t;
  }
  return { text: steps.join(' , '), sum };
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
