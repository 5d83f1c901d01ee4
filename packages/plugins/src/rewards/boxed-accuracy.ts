import { Type } from '@sinclair/typebox';
import { defineStrategy, type RewardFunction, type RewardInput, type RewardResult } from '@mmrl/core';
import { findBoxed, gradeAnswer, matchesDescriptionFormat, matchesThinkFormat, normalizeResponse } from './answer-grading.js';

export const BOXED_FORMATS = ['description-think-boxed', 'think-boxed'] as const;
export type BoxedFormat = (typeof BOXED_FORMATS)[number];

export const BoxedAccuracyOptions = Type.Object(
  {
    formatWeight: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0,
      description:
        'w in reward = (1 − w)·accuracy + w·format. 0 = accuracy only (VGPO/VPPO `compute_score_wo_format`); ' +
        '0.1 = EasyR1 `compute_score` (0.9·acc + 0.1·format; Durian, PAPO, NoisyRollout). METHODS.md §7.3.',
    }),
    format: Type.Union(
      BOXED_FORMATS.map((f) => Type.Literal(f)),
      {
        default: 'description-think-boxed',
        description:
          'Format check (METHODS.md §7.2): description-think-boxed = `<description>…</description><think>…</think>' +
          '\\boxed{…}` (Vision-SR1, IVR-R1); think-boxed = `<think>…</think>…\\boxed{…}…` (EasyR1 math.py).',
      },
    ),
    overlong: Type.Optional(
      Type.Object(
        {
          maxLength: Type.Integer({ minimum: 1, description: 'L_max: responses longer than this get −factor.' }),
          cacheLength: Type.Integer({
            minimum: 0,
            description: 'L_cache: the penalty ramps linearly from 0 to −1 over the last L_cache tokens before L_max.',
          }),
          factor: Type.Number({ minimum: 0, default: 1, description: 'Weight of the length term (DAPO 1.0).' }),
        },
        {
          additionalProperties: false,
          description: 'DAPO soft overlong punishment on the response token count (METHODS.md §6.2). Off when absent.',
        },
      ),
    ),
  },
  { additionalProperties: false },
);

export interface OverlongOptions {
  maxLength: number;
  cacheLength: number;
  /** Default 1. */
  factor?: number;
}

export interface BoxedAccuracyInit {
  /** Default 0. */
  formatWeight?: number;
  /** Default `'description-think-boxed'`. */
  format?: BoxedFormat;
  overlong?: OverlongOptions;
}

/**
 * DAPO soft overlong punishment R_len(|y|) (METHODS.md §6.2; EasyR1 `examples/reward_function/dapo.py`
 * `soft_overlong_punishment`, verl `docs/algo/dapo.md`), with L_exp = L_max − L_cache:
 * 0 for |y| ≤ L_exp; (L_exp − |y|) / L_cache for L_exp < |y| ≤ L_max; −1 for |y| > L_max.
 * @throws Error when cacheLength > maxLength or either is negative.
 */
export function overlongPenalty(responseLength: number, maxLength: number, cacheLength: number): number {
  if (!(cacheLength >= 0 && maxLength >= 0 && cacheLength <= maxLength)) {
    throw new Error(`overlongPenalty: need 0 ≤ cacheLength (${cacheLength}) ≤ maxLength (${maxLength})`);
  }
  const expected = maxLength - cacheLength;
  if (responseLength <= expected) return 0;
  if (responseLength <= maxLength) return (expected - responseLength) / cacheLength;
  return -1;
}

/**
 * Boxed-answer accuracy reward with an optional format term and DAPO overlong shaping (METHODS.md §7, §6.2).
 *
 * For a response y and ground truth a (EasyR1 `examples/reward_function/math.py` `compute_score`, MathRuler):
 *  1. y ← {@link normalizeResponse}(y) — whitespace around `<`, `>`, `/` removed (§7.1 step 1; §9 R-2);
 *  2. format = 1 when y fully matches the configured template (§7.2), else 0;
 *  3. accuracy = 1 when y has a balanced last `\boxed{…}` whose content {@link gradeAnswer} accepts against a
 *     (§7.1 step 2, §7.3; MathRuler `grade_answer` with the numeric stand-in for sympy, §9 R-1), else 0;
 *  4. reward = (1 − w)·accuracy + w·format (w = `formatWeight`; w = 0.1 is EasyR1's 0.9·acc + 0.1·format,
 *     w = 0 is `compute_score_wo_format`), plus factor·R_len(responseLength) when `overlong` is set (§6.2).
 * Note: DAPO's own reward uses ±1 accuracy; here the length term is added to the [0, 1] reward above.
 */
export class BoxedAccuracyRewardFunction implements RewardFunction {
  readonly formatWeight: number;
  readonly format: BoxedFormat;
  readonly overlong: Required<OverlongOptions> | undefined;

  /** @throws Error naming the option when formatWeight ∉ [0, 1], the format is unknown, or the overlong lengths are invalid. */
  constructor(options: BoxedAccuracyInit = {}) {
    const formatWeight = options.formatWeight ?? 0;
    if (!(formatWeight >= 0 && formatWeight <= 1)) {
      throw new Error(`boxed-accuracy: options.formatWeight must be in [0, 1], got ${formatWeight}`);
    }
    const format = options.format ?? 'description-think-boxed';
    if (!BOXED_FORMATS.includes(format)) {
      throw new Error(`boxed-accuracy: options.format must be one of ${BOXED_FORMATS.join(', ')}, got "${String(format)}"`);
    }
    this.formatWeight = formatWeight;
    this.format = format;
    if (options.overlong) {
      const { maxLength, cacheLength } = options.overlong;
      const factor = options.overlong.factor ?? 1;
      if (!(Number.isFinite(maxLength) && maxLength >= 1)) {
        throw new Error(`boxed-accuracy: options.overlong.maxLength must be ≥ 1, got ${maxLength}`);
      }
      if (!(Number.isFinite(cacheLength) && cacheLength >= 0)) {
        throw new Error(`boxed-accuracy: options.overlong.cacheLength must be ≥ 0, got ${cacheLength}`);
      }
      if (cacheLength > maxLength) {
        throw new Error(
          `boxed-accuracy: options.overlong.cacheLength (${cacheLength}) must be ≤ options.overlong.maxLength (${maxLength})`,
        );
      }
      if (!(Number.isFinite(factor) && factor >= 0)) {
        throw new Error(`boxed-accuracy: options.overlong.factor must be ≥ 0, got ${factor}`);
      }
      this.overlong = { maxLength, cacheLength, factor };
    }
  }

  score(input: RewardInput): RewardResult {
    const response = normalizeResponse(input.response);
    const formatOk = this.format === 'think-boxed' ? matchesThinkFormat(response) : matchesDescriptionFormat(response);
    const boxed = findBoxed(response);
    const accuracy = boxed !== null && gradeAnswer(boxed, input.answer) ? 1 : 0;
    const format = formatOk ? 1 : 0;
    let reward = (1 - this.formatWeight) * accuracy + this.formatWeight * format;
    if (this.overlong) {
      const { maxLength, cacheLength, factor } = this.overlong;
      reward += factor * overlongPenalty(input.responseLength, maxLength, cacheLength);
    }
    return { reward, accuracy, format };
  }
}

export const boxedAccuracyReward = defineStrategy({
  kind: 'reward-function',
  name: 'boxed-accuracy',
  optionsSchema: BoxedAccuracyOptions,
  docs: {
    summary:
      'Binary accuracy of the last \\boxed{} answer (MathRuler grade_answer semantics), optionally mixed with a ' +
      'binary format reward and DAPO soft overlong shaping.',
    paper:
      'EasyR1 / MathRuler math reward; DAPO (arXiv 2503.14476) overlong shaping; Vision-SR1 description format',
    equations: 'METHODS.md §7.1–7.3 (TGRL Eq. 3, Durian Eq. 24), §6.2',
  },
  create: (options) => new BoxedAccuracyRewardFunction(options),
});
