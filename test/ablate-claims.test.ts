// Claims of an ablation spec: parsing, verdicts, the power line, and how report.md and report.html show them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { evaluateClaim, powerLine, verdictOf } from '../packages/cli/src/ablation/claims.js';
import { renderHtmlReport } from '../packages/cli/src/ablation/report-html.js';
import { renderMarkdownReport, type AblationReport } from '../packages/cli/src/ablation/report.js';
import { AblationSpecError, parseAblationSpec } from '../packages/cli/src/ablation/spec.js';
import { minDetectableDifference, seedsNeeded, tInterval } from '../packages/cli/src/ablation/stats.js';

const close = (actual: number | null, expected: number, what: string, tol = 1e-9) =>
  assert.ok(actual !== null && Math.abs(actual - expected) < tol, `${what}: ${actual} ≠ ${expected}`);

test('smallest detectable paired difference and seeds needed match the hand computation', () => {
  // δ_min = (t_{0.975, n−1} + t_{0.8, n−1}) · sd/√n. n = 5: t_{0.975,4} = 2.7764451052, t_{0.8,4} = 0.9409645772
  // (tables: 2.776, 0.941); sd = 0.02: 3.7174096824 · 0.02/2.2360679775 = 0.0332495230.
  close(minDetectableDifference(0.02, 5), 0.033249523, 'δ_min n = 5', 1e-9);
  // n = 9: t_{0.975,8} = 2.3060041352, t_{0.8,8} = 0.8888895178: 3.1948936530 · 0.02/3 = 0.0212992910.
  close(minDetectableDifference(0.02, 9), 0.021299291, 'δ_min n = 9', 1e-9);
  // n = 10: t_{0.975,9} = 2.2621571628, t_{0.8,9} = 0.8834038597: 3.1455610225 · 0.02/3.1622776602 = 0.0198942747.
  close(minDetectableDifference(0.02, 10), 0.0198942747, 'δ_min n = 10', 1e-9);
  // So an effect of 0.02 at sd 0.02 needs 10 seeds (9 give 0.0213 > 0.02); the normal approximation would say 8.
  assert.equal(seedsNeeded(0.02, 0.02), 10);
  assert.equal(seedsNeeded(0.02, -0.02), 10, 'the sign of the effect does not matter');
  // Twice the effect: n = 4 gives (3.1824463053 + 0.9784723124) · 0.02/2 = 0.0416092 > 0.04; n = 5 gives 0.0332.
  assert.equal(seedsNeeded(0.02, 0.04), 5);
  // Edge cases: one seed has no sd; zero sd detects anything with 2 seeds; a zero effect never.
  assert.equal(minDetectableDifference(null, 1), null);
  assert.equal(minDetectableDifference(0.02, 1), null);
  assert.equal(minDetectableDifference(0, 5), 0);
  assert.equal(seedsNeeded(0, 0.01), 2);
  assert.equal(seedsNeeded(0.02, 0), null);
  assert.equal(seedsNeeded(1, 1e-6), null, 'beyond 10,000 seeds');
  assert.throws(() => minDetectableDifference(0.02, 5, 0.95, 1), /power must lie in \(0, 1\)/);
  assert.throws(() => seedsNeeded(0.02, 0.02, 1.5), /confidence must lie in \(0, 1\)/);
});

test('a claim is reproduced, opposite or inconclusive from the paired interval, with its power', () => {
  // better − worse by seed: [0.03, 0.05, 0.04, 0.06, 0.02] → mean 0.04, sd 0.0158113883, se 0.0070710678,
  // half-width 2.7764451052 · 0.0070710678 = 0.0196324316, interval [0.0203675684, 0.0596324316]: above 0.
  const worse = new Map([1, 2, 3, 4, 5].map((s) => [s, 0.5] as const));
  const better = new Map([1, 2, 3, 4, 5].map((s, k) => [s, 0.5 + [0.03, 0.05, 0.04, 0.06, 0.02][k]!] as const));
  const arms = (arm: string) => (arm === 'a' ? better : arm === 'b' ? worse : new Map<number, number>());
  const c = evaluateClaim({ better: 'a', worse: 'b', source: 'Paper Table 1', pointer: '/claims/0' }, arms, 0.95);
  assert.equal(c.verdict, 'reproduced');
  assert.equal(c.source, 'Paper Table 1');
  close(c.difference.mean, 0.04, 'mean');
  close(c.difference.low, 0.0203675684, 'low', 1e-9);
  // Power: δ_min = 3.7174096824 · 0.0158113883/√5 = 0.0262860559; the observed 0.04 needs n with δ_min(n) ≤ 0.04:
  // n = 3: (4.3026527297 + 1.0606601718) · 0.0158113883/1.7320508 = 0.0489601 > 0.04; n = 4: (3.1824463 +
  // 0.9784723) · 0.0158113883/2 = 0.0328949 ≤ 0.04 → 4.
  assert.equal(c.power.seeds, 5);
  close(c.power.minDetectable, 0.0262860559, 'δ_min', 1e-9);
  assert.equal(c.power.effectSource, 'observed');
  assert.equal(c.power.seedsNeeded, 4);
  assert.equal(
    powerLine(c.power),
    '5 seeds, sd of the differences 1.6 pt: the smallest difference detectable (two-sided α = 0.05, power 0.8) is 2.6 pt; ' +
      'detecting the observed 4.0 pt needs 4 seeds (these suffice).',
  );
  // The same data claimed the other way round: opposite.
  assert.equal(evaluateClaim({ better: 'b', worse: 'a', pointer: '/claims/1' }, arms, 0.95).verdict, 'opposite');
  // A claimed effect of 1 point plans seeds for it: δ_min(n) ≤ 0.01 at sd 0.0158 first at n = 22
  // (n = 21: (2.0859634 + 0.8599644) · 0.0158113883/4.5825757 = 0.0101644; n = 22: (2.0796138 + 0.8590740) ·
  // 0.0158113883/4.6904158 = 0.0099063).
  const planned = evaluateClaim({ better: 'a', worse: 'b', effect: 0.01, pointer: '/claims/0' }, arms, 0.95);
  assert.equal(planned.power.effectSource, 'claim');
  assert.equal(planned.power.seedsNeeded, 22);
  assert.match(powerLine(planned.power), /detecting the claimed 1\.0 pt needs 22 seeds\.$/);
  // Only one seed in common: inconclusive, no power.
  const lone = evaluateClaim({ better: 'a', worse: 'c', pointer: '/claims/0' }, (arm) => (arm === 'a' ? better : new Map([[3, 0.1]])), 0.95);
  assert.equal(lone.verdict, 'inconclusive');
  assert.equal(lone.power.seeds, 1);
  assert.equal(lone.power.minDetectable, null);
  assert.equal(powerLine(lone.power), '1 paired seed: no interval and no power without at least 2.');
  // An interval that contains 0 is inconclusive; one that touches 0 from above is not reproduced.
  assert.equal(verdictOf(tInterval([0.01, -0.01, 0.02])), 'inconclusive');
  assert.equal(verdictOf({ low: 0, high: 0.1 }), 'inconclusive');
  // Zero variance (every seed +1 pt): a zero-width interval above 0, detectable with 2 seeds.
  const flat = evaluateClaim({ better: 'a', worse: 'b', pointer: '/claims/0' }, (arm) => (arm === 'a' ? new Map([[1, 0.51], [2, 0.61]]) : new Map([[1, 0.5], [2, 0.6]])), 0.95);
  assert.equal(flat.verdict, 'reproduced');
  assert.equal(flat.power.seedsNeeded, 2);
  assert.equal(flat.power.identical, false);
  // Identical arms (every difference exactly 0, as clip-higher with one update per batch gives, where the importance
  // ratio is 1): inconclusive, and the power line says the factor did not act instead of "detects 0.0 pt".
  const same = new Map([[1, 0.45], [2, 0.47], [3, 0.44]]);
  const twin = evaluateClaim({ better: 'a', worse: 'b', pointer: '/claims/0' }, () => same, 0.95);
  assert.equal(twin.verdict, 'inconclusive');
  assert.equal(twin.power.identical, true);
  assert.equal(
    powerLine(twin.power),
    '3 seeds, every paired difference exactly 0: the two arms reached the same accuracy on every seed, so what ' +
      'separates them did not act in these runs (check that it can in this regime); no power statement applies.',
  );
  assert.equal(lone.power.identical, false, 'one seed is not "identical"');
});

/** Parses a spec given as data (the base inline). */
const parse = (spec: Record<string, unknown>) =>
  parseAblationSpec(spec, '/specs/claims.yaml', stringify(spec), async () => {
    throw new Error('no base file in this test');
  });

const SPEC = {
  base: { task: { name: 'fashion-shelf' } },
  factors: [
    { name: 'adv', levels: [{ label: 'grpo' }, { label: 'rloo' }] },
    { name: 'kl', levels: [{ label: 'on' }, { label: 'off' }] },
  ],
  seeds: [1, 2],
  baseline: 'grpo+on',
};

test('spec claims: arms checked with "did you mean", effect in points, errors name the claim', async () => {
  const ok = await parse({ ...SPEC, claims: [{ better: 'rloo+on', worse: 'grpo+on', source: 'RLOO §3', effect: 2.5 }] });
  assert.deepEqual(ok.claims, [{ better: 'rloo+on', worse: 'grpo+on', source: 'RLOO §3', effect: 0.025, pointer: '/claims/0' }]);
  assert.deepEqual((await parse(SPEC)).claims, [], 'claims are optional');
  await assert.rejects(
    parse({
      ...SPEC,
      claims: [
        { better: 'rlo+off', worse: 'grpo+on' },
        { better: 'grpo+on', worse: 'grpo+on' },
        { worse: 'grpo+on', effect: -1, sauce: 'x' },
      ],
    }),
    (e: unknown) => {
      assert.ok(e instanceof AblationSpecError);
      const m = e.message;
      assert.match(m, /\/claims\/0\/better \(\/specs\/claims\.yaml:\d+:\d+\): "rlo\+off" is not an arm; did you mean "rloo\+off"\?/);
      assert.match(m, /\/claims\/1 \(.*\): a claim compares two different arms, got "grpo\+on" twice/);
      assert.match(m, /\/claims\/2\/better: is required|\/claims\/2\/better \(.*\): is required/);
      assert.match(m, /\/claims\/2\/effect \(.*\): the effect to plan seeds for is in percentage points/);
      assert.match(m, /\/claims\/2\/sauce \(.*\): unknown key "sauce"; did you mean "source"\?/);
      return true;
    },
  );
  await assert.rejects(parse({ ...SPEC, claims: { better: 'a' } }), /\/claims \(.*\): must be a list/);
});

/** A two-arm report with one claim in each verdict. */
function reportWithClaims(): AblationReport {
  const arms = (arm: string) =>
    new Map(
      [1, 2, 3].map((s, k) => [s, arm === 'a' ? [0.6, 0.62, 0.61][k]! : arm === 'b' ? [0.5, 0.51, 0.53][k]! : [0.6, 0.5, 0.7][k]!] as const),
    );
  const interval = tInterval([0.6, 0.62, 0.61]);
  const arm = (label: string, isBaseline: boolean) => ({
    label,
    levels: { f: label },
    isBaseline,
    runs: { total: 3, completed: 3, failed: 0 },
    heldOut: interval,
    beforeRl: 0.3,
    difference: null,
    finalReward: interval,
    tokensPerSecond: 100,
    wallSeconds: 60,
    curves: { steps: [1], reward: [0.5], accuracy: [0.5], heldOut: [{ step: 0, accuracy: 0.3 }] },
  });
  return {
    name: 'claims',
    spec: '/specs/claims.yaml',
    evaluation: { source: 'run' },
    base: 'inline',
    generatedAt: '2026-12-04T00:00:00.000Z',
    confidence: 0.95,
    seeds: [1, 2, 3],
    baseline: 'b',
    factors: [{ name: 'f', levels: ['a', 'b', 'c'] }],
    arms: [arm('a', false), arm('b', true), arm('c', false)],
    claims: [
      evaluateClaim({ better: 'a', worse: 'b', source: 'Paper Table 1', pointer: '/claims/0' }, arms, 0.95),
      evaluateClaim({ better: 'b', worse: 'a', source: 'Paper Table 2', pointer: '/claims/1' }, arms, 0.95),
      evaluateClaim({ better: 'c', worse: 'b', effect: 0.05, pointer: '/claims/2' }, arms, 0.95),
    ],
    runs: [],
    summary: { runs: 9, completed: 9, failed: 0, skipped: 0, reused: 0 },
  };
}

test('report.md and report.html state each claim verdict with its power line', async () => {
  const report = reportWithClaims();
  assert.deepEqual(report.claims.map((c) => c.verdict), ['reproduced', 'opposite', 'inconclusive']);
  const md = renderMarkdownReport(report);
  assert.match(md, /^## Claims$/m);
  // a − b = [0.10, 0.11, 0.08]: mean 9.7 pt.
  assert.match(md, /^\| a > b \| Paper Table 1 \| 3 \| \+9\.7 pt \| \[\+[\d.]+, \+[\d.]+\] \| \*\*reproduced\*\* \| [\d.]+ pt \| \d+ \(observed Δ\) \|$/m);
  assert.match(md, /^\| b > a \| Paper Table 2 \| 3 \| −9\.7 pt \| \[−[\d.]+, −[\d.]+\] \| \*\*opposite\*\* \|/m);
  assert.match(md, /^\| c > b \| – \| 3 \| \+8\.7 pt \| \[−[\d.]+, \+[\d.]+\] \| inconclusive \| [\d.]+ pt \| \d+ \(claimed effect\) \|$/m);
  assert.match(md, /^- c > b: inconclusive\. 3 seeds, sd of the differences [\d.]+ pt: the smallest difference detectable .* detecting the claimed 5\.0 pt needs \d+ seeds\.$/m);
  const html = await renderHtmlReport(report);
  assert.match(html, /<h2>Claims<\/h2>/);
  assert.equal((html.match(/<td data-verdict="reproduced"><strong>reproduced<\/strong><\/td>/g) ?? []).length, 1);
  assert.equal((html.match(/<td data-verdict="opposite">/g) ?? []).length, 1);
  assert.equal((html.match(/<td data-verdict="inconclusive">/g) ?? []).length, 1);
  assert.match(html, /a &gt; b<\/td><td>Paper Table 1<\/td>/);
  // Without claims there is no section.
  const none = renderMarkdownReport({ ...report, claims: [] });
  assert.doesNotMatch(none, /## Claims/);
});
