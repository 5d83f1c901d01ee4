// Core first: its entry loads reflect-metadata, which tsyringe needs at import, and shares one tsyringe/registry copy.
import '../index.js';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import type { StrategyContext, StrategyDefinition } from '../index.js';

/**
 * tsyringe's `INJECTION_TOKEN_METADATA_KEY` (tsyringe 4.10, `src/reflection-helpers.ts`): `@inject(token)` on
 * constructor parameter `i` stores `{ [i]: token }` under this key on the class. Pinned with tsyringe; the tester's
 * own tests cover it.
 */
export const INJECTION_TOKENS_METADATA_KEY = 'injectionTokens';

/** A class constructor, as given to `useClass` or to {@link StrategyTester.checkInjectionTokens}. */
export type Constructor<T = unknown> = abstract new (...args: any[]) => T;

/** A plain JSON options object. */
export type OptionsObject = Record<string, unknown>;

/** An options value the schema must refuse, and the ajv error expected for it. */
export interface InvalidOptionsCase {
  /** Label used in assertion messages (defaults to the JSON of `options`). */
  name?: string;
  /** The options object given to the validator (defaults are applied first, as in a real run). */
  options: unknown;
  /** What the refusal must contain: at least one ajv error must match every field given. */
  error: {
    /**
     * JSON pointer inside the options object, e.g. `/epsilon`. It matches an error's `instancePath`, or for
     * `additionalProperties` / `required` errors also `instancePath/<property>` (the offending property).
     */
    path?: string;
    /** ajv keyword, e.g. `minimum`, `additionalProperties`, `anyOf`, `const`, `type`. */
    keyword?: string;
    /** Pattern the ajv `message` must match. */
    message?: RegExp;
  };
}

/** How {@link StrategyTester.checkCreate} builds and tears down one instance. */
export interface CreateCheck<T = unknown> {
  /** Options given to `create` (defaults to the schema defaults; always validated and completed by ajv first). */
  options?: OptionsObject;
  /** Overrides of the {@link StrategyContext} (`container` is always a fresh child container). */
  context?: Partial<Omit<StrategyContext, 'container'>>;
  /** Registers what the strategy resolves (task, policy, …) in the fresh child container before `create`. */
  register?: (container: DependencyContainer) => void;
  /**
   * Uses the instance (e.g. one forward / loss call). Must dispose every tensor it creates or receives: the leak check
   * runs after it.
   */
  exercise?: (instance: T) => unknown | Promise<unknown>;
  /** Releases the instance (defaults to calling `instance.dispose()` when it has one). */
  dispose?: (instance: T) => unknown | Promise<unknown>;
}

/** A numeric fixture: `actual(instance)` must be within `tolerance` of `expected`, element-wise. */
export interface NumericCase<T = unknown> {
  /** Fixture label, e.g. "F1: unbiased std". */
  name: string;
  /** Options for this case (validated; missing knobs take their schema defaults). */
  options?: OptionsObject;
  /** Computes the numbers to compare from an instance built by `create` (flattened; typed arrays are fine). */
  actual: (instance: T) => ArrayLike<number> | number | Promise<ArrayLike<number> | number>;
  expected: ArrayLike<number> | number;
  /** Absolute tolerance (defaults to the tester's, 1e-5). */
  tolerance?: number;
  context?: CreateCheck<T>['context'];
  register?: CreateCheck<T>['register'];
}

/** Everything {@link StrategyTester.run} checks for one strategy; every field is optional. */
export interface StrategyTestCases<T = unknown> {
  /**
   * Expected result of `{}` with schema defaults (e.g. the defaults METHODS.md documents). When absent the result is
   * compared with the defaults the schema itself declares.
   */
  defaults?: OptionsObject;
  /** Options that must be refused, with the expected error. */
  invalid?: readonly InvalidOptionsCase[];
  /** Injectable class behind the strategy (`useClass`), checked for explicit tokens on every constructor parameter. */
  useClass?: Constructor;
  /**
   * Build an instance through `create` with a fresh child container and check that no tensor leaks. `true` (the
   * default) uses the schema defaults; `false` skips it (for strategies that need a task or policy from the run).
   */
  create?: boolean | CreateCheck<T>;
  /** Numeric fixtures. */
  numeric?: readonly NumericCase<T>[];
}

export interface StrategyTesterOptions {
  /** Default absolute tolerance of numeric comparisons (1e-5). */
  tolerance?: number;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Label of a definition in messages: `kind/name`. */
const labelOf = (definition: StrategyDefinition<any, any>) => `${definition.kind}/${definition.name}`;

/**
 * The defaults a schema declares for an empty object: each property's `default`, completed (for object-valued
 * defaults) by the defaults of its own properties, as ajv's `useDefaults` applies them.
 */
export function declaredDefaults(schema: unknown): OptionsObject {
  const out: OptionsObject = {};
  if (!isPlainObject(schema) || !isPlainObject(schema['properties'])) return out;
  for (const [key, sub] of Object.entries(schema['properties'])) {
    if (!isPlainObject(sub) || !('default' in sub)) continue;
    const value = structuredClone(sub['default']);
    out[key] = isPlainObject(value) ? { ...declaredDefaults(sub), ...value } : value;
  }
  return out;
}

/** JSON pointer of the value an ajv error is about (`instancePath`, plus the property for property-level keywords). */
export function errorPointer(error: ErrorObject): string {
  const params = error.params as { additionalProperty?: string; missingProperty?: string };
  const property = params.additionalProperty ?? params.missingProperty;
  return property === undefined ? error.instancePath : `${error.instancePath}/${property}`;
}

const formatErrors = (errors: readonly ErrorObject[] | null | undefined) =>
  (errors ?? []).map((e) => `${errorPointer(e) || '/'} ${e.keyword}: ${e.message ?? ''}`).join('; ');

/**
 * Element-wise `|actual − expected| ≤ tolerance`, with equal lengths.
 * @throws AssertionError naming the first offending index (and `label`), or on a length mismatch or NaN.
 */
export function assertClose(
  actual: ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  tolerance = 1e-5,
  label = 'values',
): void {
  const a = typeof actual === 'number' ? [actual] : Array.from(actual);
  const e = typeof expected === 'number' ? [expected] : Array.from(expected);
  assert.equal(a.length, e.length, `${label}: got ${a.length} values, expected ${e.length}`);
  for (let i = 0; i < e.length; i++) {
    const ok = Math.abs(a[i]! - e[i]!) <= tolerance;
    assert.ok(ok, `${label}[${i}]: got ${a[i]}, expected ${e[i]} ± ${tolerance} (got [${a.join(', ')}])`);
  }
}

/**
 * Checks a {@link StrategyDefinition} the way ESLint's RuleTester checks a rule (style notes §8.4): schema, defaults,
 * invalid options, DI completeness, creation without tensor leaks, numeric fixtures. Every check throws a node:assert
 * `AssertionError` (so it reports as a failure under node:test) whose message starts with `kind/name`.
 *
 * ```ts
 * test('grpo', () => new StrategyTester().run(grpoAdvantage, {
 *   defaults: { epsilon: 1e-6, std: 'unbiased' },
 *   invalid: [{ options: { epsilon: -1 }, error: { path: '/epsilon', keyword: 'minimum' } }],
 *   numeric: [{ name: 'F1', actual: (a) => a.compute(input), expected: [0.499999, -1.499997, 0.499999, 0.499999] }],
 * }));
 * ```
 */
export class StrategyTester {
  /** ajv as the run uses it (strict, all errors, defaults applied). */
  private readonly ajv = new Ajv({ strict: true, allErrors: true, useDefaults: true });
  private readonly validators = new WeakMap<object, ValidateFunction>();
  readonly tolerance: number;

  constructor(options: StrategyTesterOptions = {}) {
    this.tolerance = options.tolerance ?? 1e-5;
  }

  /**
   * Runs every check the cases ask for, in order: {@link checkSchema} (always), {@link checkInvalidOptions},
   * {@link checkInjectionTokens} (with `useClass`), {@link checkCreate} (unless `create: false`), {@link checkNumeric}.
   * @returns the options object `{}` turns into with the schema defaults.
   */
  async run<T>(definition: StrategyDefinition<any, T>, cases: StrategyTestCases<T> = {}): Promise<{ defaults: OptionsObject }> {
    const defaults = this.checkSchema(definition, cases.defaults);
    if (cases.invalid) this.checkInvalidOptions(definition, cases.invalid);
    if (cases.useClass) this.checkInjectionTokens(cases.useClass, labelOf(definition));
    if (cases.create !== false) await this.checkCreate(definition, cases.create === true || !cases.create ? {} : cases.create);
    if (cases.numeric) await this.checkNumeric(definition, cases.numeric);
    return { defaults };
  }

  /**
   * (a) The options schema: it is an object schema with `properties` and `additionalProperties: false` (a bare `{}`
   * is refused, as in ESLint), it passes `ajv.validateSchema` and compiles with ajv `strict: true` (unknown keywords,
   * ignored defaults, … are errors), and `{}` with `useDefaults` is valid.
   * @param expectedDefaults when given, the completed `{}` must deep-equal it; otherwise it must deep-equal the
   *   defaults the schema declares ({@link declaredDefaults}).
   * @returns the completed options object.
   * @throws AssertionError "options schema invalid …", "{} with defaults is not valid …" or a deep-equality diff.
   */
  checkSchema(definition: StrategyDefinition<any, any>, expectedDefaults?: OptionsObject): OptionsObject {
    const label = labelOf(definition);
    const validate = this.validator(definition);
    const options: OptionsObject = {};
    const ok = validate(options);
    assert.ok(
      ok,
      `${label}: {} with defaults is not valid (every option needs a default): ${formatErrors(validate.errors)}`,
    );
    assert.deepStrictEqual(
      options,
      expectedDefaults ?? declaredDefaults(definition.optionsSchema),
      `${label}: {} with defaults does not give the ${expectedDefaults ? 'expected' : 'declared'} defaults`,
    );
    return options;
  }

  /**
   * Validates `options` as a run would (defaults applied to a copy).
   * @returns the completed options object.
   * @throws AssertionError listing the ajv errors.
   */
  resolveOptions(definition: StrategyDefinition<any, any>, options: OptionsObject = {}): OptionsObject {
    const validate = this.validator(definition);
    const completed = structuredClone(options);
    assert.ok(validate(completed), `${labelOf(definition)}: options ${JSON.stringify(options)} invalid: ${formatErrors(validate.errors)}`);
    return completed;
  }

  /**
   * (b) Each case's options must be refused, with at least one ajv error matching the case's `path`, `keyword` and
   * `message` (see {@link InvalidOptionsCase}).
   * @throws AssertionError "… accepted invalid options …" or "… no error matches …" (listing the actual errors).
   */
  checkInvalidOptions(definition: StrategyDefinition<any, any>, cases: readonly InvalidOptionsCase[]): void {
    const label = labelOf(definition);
    const validate = this.validator(definition);
    for (const c of cases) {
      const name = c.name ?? JSON.stringify(c.options);
      const data = structuredClone(c.options);
      assert.equal(validate(data), false, `${label}: accepted invalid options ${name}`);
      const errors = validate.errors ?? [];
      const matches = errors.some(
        (e) =>
          (c.error.path === undefined || c.error.path === e.instancePath || c.error.path === errorPointer(e)) &&
          (c.error.keyword === undefined || c.error.keyword === e.keyword) &&
          (c.error.message === undefined || c.error.message.test(e.message ?? '')),
      );
      assert.ok(
        matches,
        `${label}: options ${name}: no error matches ${JSON.stringify({ ...c.error, message: c.error.message?.source })}; got: ${formatErrors(errors)}`,
      );
    }
  }

  /**
   * (c) DI completeness: every constructor parameter of `ctor` carries an explicit token (`@inject` / `@injectAll`),
   * i.e. tsyringe's `injectionTokens` metadata has an entry for each index `0 … ctor.length − 1` and none beyond.
   * A partly decorated constructor would silently receive `undefined` (no decorator metadata is emitted; style notes
   * §1.2). Note that `ctor.length` stops at the first parameter with a default value: do not give injected
   * parameters defaults.
   * @throws AssertionError naming the undecorated parameter indices.
   */
  checkInjectionTokens(ctor: Constructor, label = ctor.name || 'anonymous class'): void {
    const tokens = (Reflect.getOwnMetadata(INJECTION_TOKENS_METADATA_KEY, ctor) ?? {}) as Record<string, unknown>;
    const missing: number[] = [];
    for (let i = 0; i < ctor.length; i++) if (tokens[i] === undefined) missing.push(i);
    assert.ok(
      missing.length === 0,
      `${label}: constructor of ${ctor.name || 'anonymous class'} has ${ctor.length} parameter(s) but parameter(s) ${missing.join(', ')} carry no @inject/@injectAll token (they would receive undefined)`,
    );
    const extra = Object.keys(tokens).filter((k) => Number(k) >= ctor.length);
    assert.ok(extra.length === 0, `${label}: injection tokens for parameter(s) ${extra.join(', ')} beyond the constructor's ${ctor.length}`);
  }

  /**
   * (d) `create(options, ctx)` with a fresh `container.createChildContainer()` (never the global container) returns
   * an instance, and `tf.memory().numTensors` is the same before `create` and after `exercise` + `dispose` + the
   * child container's own `dispose()`.
   * @returns nothing: the instance is disposed when the check ends.
   * @throws AssertionError "create returned nothing" or "leaked N tensor(s)"; rethrows what `create` throws.
   */
  async checkCreate<T>(definition: StrategyDefinition<any, T>, check: CreateCheck<T> = {}): Promise<void> {
    const label = labelOf(definition);
    const options = this.resolveOptions(definition, check.options);
    const before = tf.memory().numTensors;
    const { instance, container } = await this.build(definition, options, check);
    assert.ok(instance !== undefined && instance !== null, `${label}: create returned ${String(instance)}`);
    if (check.exercise) await check.exercise(instance);
    if (check.dispose) await check.dispose(instance);
    else if (typeof (instance as { dispose?: unknown }).dispose === 'function') await (instance as unknown as { dispose(): unknown }).dispose();
    await container.dispose();
    const after = tf.memory().numTensors;
    assert.equal(after, before, `${label}: create/exercise/dispose leaked ${after - before} tensor(s) (${before} → ${after})`);
  }

  /**
   * (e) Numeric fixtures: for each case, builds an instance from the case's options (validated, defaults applied),
   * calls `actual(instance)` and compares element-wise with `expected` within the tolerance.
   * @throws AssertionError naming the case and the first index off.
   */
  async checkNumeric<T>(definition: StrategyDefinition<any, T>, cases: readonly NumericCase<T>[]): Promise<void> {
    const label = labelOf(definition);
    for (const c of cases) {
      const options = this.resolveOptions(definition, c.options);
      const { instance, container } = await this.build(definition, options, { context: c.context, register: c.register });
      try {
        assertClose(await c.actual(instance), c.expected, c.tolerance ?? this.tolerance, `${label} ${c.name}`);
      } finally {
        await container.dispose();
      }
    }
  }

  /**
   * Builds an instance as a run would, for tests that go beyond the fixtures (invariances, gradients): options
   * validated and completed with the schema defaults, `create` called with a fresh child container.
   * @throws AssertionError on invalid options; rethrows what `create` throws.
   */
  async instantiate<T>(
    definition: StrategyDefinition<any, T>,
    options: OptionsObject = {},
    check: Pick<CreateCheck<T>, 'context' | 'register'> = {},
  ): Promise<T> {
    return (await this.build(definition, this.resolveOptions(definition, options), check)).instance;
  }

  private async build<T>(
    definition: StrategyDefinition<any, T>,
    options: OptionsObject,
    check: Pick<CreateCheck<T>, 'context' | 'register'>,
  ): Promise<{ instance: T; container: DependencyContainer }> {
    const container = rootContainer.createChildContainer();
    check.register?.(container);
    const ctx: StrategyContext = { seed: 0, baseDir: process.cwd(), ...check.context, container };
    return { instance: await definition.create(options as never, ctx), container };
  }

  /** Compiles (once per schema object) and caches the validator; asserts the schema shape first. */
  private validator(definition: StrategyDefinition<any, any>): ValidateFunction {
    const schema = definition.optionsSchema as unknown;
    const label = labelOf(definition);
    assert.ok(isPlainObject(schema), `${label}: options schema invalid: not an object`);
    const cached = this.validators.get(schema);
    if (cached) return cached;
    assert.ok(
      schema['type'] === 'object' && isPlainObject(schema['properties']) && schema['additionalProperties'] === false,
      `${label}: options schema invalid: must be { type: "object", properties: {…}, additionalProperties: false }`,
    );
    const valid = this.ajv.validateSchema(schema);
    assert.ok(valid, `${label}: options schema invalid: ${this.ajv.errorsText(this.ajv.errors)}`);
    let validate: ValidateFunction;
    try {
      validate = this.ajv.compile(schema);
    } catch (e) {
      assert.fail(`${label}: options schema invalid (ajv strict): ${(e as Error).message}`);
    }
    this.validators.set(schema, validate);
    return validate;
  }
}
