import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluateArithmetic,
  extractBoxed,
  findBoxed,
  gradeAnswer,
  latexToText,
  matchesDescriptionFormat,
  matchesThinkFormat,
  normalizeAnswerLoose,
  normalizeMathAnswer,
  normalizeResponse,
  splitTuple,
} from '../../src/rewards/answer-grading.js';

// ---- Fixture F16 (METHODS.md §7.3): normalised text, think-format, description-format, boxed ----

const F16: { response: string; normalised: string; think: boolean; description: boolean; boxed: string }[] = [
  {
    response: '<think> 2+2 is 4 </think> The answer is \\boxed{4}.',
    normalised: '<think>2+2 is 4</think>The answer is \\boxed{4}.',
    think: true,
    description: false,
    boxed: '4',
  },
  {
    response: '<think>x</think> \\boxed{\\frac{1}{2}} and later \\boxed{3}',
    normalised: '<think>x</think>\\boxed{\\frac{1}{2}} and later \\boxed{3}',
    think: true,
    description: false,
    boxed: '3',
  },
  {
    response: 'The answer is \\boxed{4}',
    normalised: 'The answer is \\boxed{4}',
    think: false,
    description: false,
    boxed: '4',
  },
  {
    response: '<think>a</think> \\boxed{\\frac{3}{4}',
    normalised: '<think>a</think>\\boxed{\\frac{3}{4}',
    think: true,
    description: false,
    boxed: 'None',
  },
  {
    response: '<description>A red square.</description> <think>count</think> \\boxed{7}',
    normalised: '<description>A red square.</description><think>count</think>\\boxed{7}',
    think: false,
    description: true,
    boxed: '7',
  },
];

F16.forEach((row, k) => {
  test(`F16 row ${k + 1}: normalised text, formats and boxed content`, () => {
    const normalised = normalizeResponse(row.response);
    assert.equal(normalised, row.normalised);
    assert.equal(matchesThinkFormat(normalised), row.think, 'think-format');
    assert.equal(matchesDescriptionFormat(normalised), row.description, 'description-format');
    assert.equal(extractBoxed(normalised), row.boxed, 'boxed');
  });
});

test('F16 grading examples (MathRuler semantics)', () => {
  assert.equal(gradeAnswer('0.5', '\\frac{1}{2}'), true, '0.5 special case (rule 1)');
  assert.equal(gradeAnswer('1/2', '\\frac{1}{2}'), true, 'integer a/b (rule 1)');
  assert.equal(gradeAnswer('12.0', '12'), true, 'integer-valued float (rule 2)');
  assert.equal(gradeAnswer('\\frac{2}{4}', '\\frac{1}{2}'), false, 'unreduced fraction');
});

// ---- §7.1 pre-normalisation ----

test('normalizeResponse: whitespace around <, >, / only; idempotent; rewrites a / b (R-2)', () => {
  assert.equal(normalizeResponse('a  <  b >\n c'), 'a<b>c');
  assert.equal(normalizeResponse('\\boxed{3 / 4}'), '\\boxed{3/4}');
  assert.equal(normalizeResponse('x + y = z'), 'x + y = z');
  const once = normalizeResponse('<think> a / b </think>  \\boxed{ 1 }');
  assert.equal(normalizeResponse(once), once);
  assert.equal(normalizeResponse(''), '');
});

// ---- §7.1 boxed extraction ----

test('extractBoxed: last box, nested braces, trimming, missing or unbalanced → "None"', () => {
  assert.equal(extractBoxed('\\boxed{\\frac{1}{2}}'), '\\frac{1}{2}');
  assert.equal(extractBoxed('\\boxed{1} then \\boxed{2} finally \\boxed{ {3} }'), '{3}');
  assert.equal(extractBoxed('\\boxed{ 1 }'), '1');
  assert.equal(extractBoxed('\\boxed{}'), '');
  assert.equal(extractBoxed(''), 'None');
  assert.equal(extractBoxed('no box here {1}'), 'None');
  assert.equal(extractBoxed('\\boxed{\\frac{1}{2}'), 'None');
  assert.equal(extractBoxed('\\boxed{1} \\boxed{2'), 'None', 'only the last box counts, even when unbalanced');
  assert.equal(extractBoxed('\\boxed{a}}}'), 'a');
  assert.equal(extractBoxed('\\boxed 5'), 'None', 'only the braced form is recognised');
  assert.equal(findBoxed('\\boxed{x}'), 'x');
  assert.equal(findBoxed('nothing'), null);
});

// ---- §7.2 format checks ----

test('matchesThinkFormat: full match, dot matches newline', () => {
  assert.equal(matchesThinkFormat('<think>line 1\nline 2</think>so\n\\boxed{x}\n'), true);
  assert.equal(matchesThinkFormat(' <think>a</think>\\boxed{1}'), false, 'must start with <think>');
  assert.equal(matchesThinkFormat('<think>a</think>no box'), false);
  assert.equal(matchesThinkFormat('<think>a</think>\\boxed{1'), false, 'needs a closing brace after \\boxed{');
  assert.equal(matchesThinkFormat(''), false);
});

test('matchesDescriptionFormat: full match, dot matches newline, nothing after the box', () => {
  assert.equal(matchesDescriptionFormat('\n <description>a\nb</description>\n<think>c\nd</think> \\boxed{1} \n'), true);
  assert.equal(matchesDescriptionFormat('<description>a</description><think>b</think>\\boxed{1}.'), false);
  assert.equal(matchesDescriptionFormat('<think>b</think>\\boxed{1}'), false);
  assert.equal(matchesDescriptionFormat('<description>a</description>\\boxed{1}'), false);
  assert.equal(matchesDescriptionFormat('x<description>a</description><think>b</think>\\boxed{1}'), false);
  assert.equal(matchesDescriptionFormat(''), false);
});

test('mmrl tokenizer decoding: spaced tags and box pass after pre-normalisation', () => {
  const decoded = '<description> coat shirt </description> <think> 0 + 1 = 1 </think> \\boxed{ 1 }';
  const normalised = normalizeResponse(decoded);
  assert.equal(normalised, '<description>coat shirt</description><think>0 + 1 = 1</think>\\boxed{ 1 }');
  assert.equal(matchesDescriptionFormat(normalised), true);
  assert.equal(extractBoxed(normalised), '1');
  assert.equal(gradeAnswer(extractBoxed(normalised), '1'), true);
});

// ---- §7.3 normaliser 1 ----

test('normalizeMathAnswer: every listed MATH-dataset rule', () => {
  assert.equal(normalizeMathAnswer('\\text{yes}'), 'yes', '\\text{} wrapper');
  assert.equal(normalizeMathAnswer('\\left( 1, 2 \\right)'), '(1,2)', '\\left/\\right and spaces');
  assert.equal(normalizeMathAnswer('90^\\circ'), '90');
  assert.equal(normalizeMathAnswer('90^{\\circ}'), '90');
  assert.equal(normalizeMathAnswer('\\$5'), '5');
  assert.equal(normalizeMathAnswer('50\\%'), '50');
  assert.equal(normalizeMathAnswer('5 \\text{ cm}'), '5', 'units after \\text{ ');
  assert.equal(normalizeMathAnswer('\\tfrac{1}{3}'), '\\frac{1}{3}');
  assert.equal(normalizeMathAnswer('\\dfrac{1}{3}'), '\\frac{1}{3}');
  assert.equal(normalizeMathAnswer('\\frac12'), '\\frac{1}{2}');
  assert.equal(normalizeMathAnswer('\\frac1b'), '\\frac{1}{b}');
  assert.equal(normalizeMathAnswer('\\frac1{72}'), '\\frac{1}{72}');
  assert.equal(normalizeMathAnswer('\\sqrt2'), '\\sqrt{2}');
  assert.equal(normalizeMathAnswer('3\\sqrt{2}'), '3\\sqrt{2}');
  assert.equal(normalizeMathAnswer('.25'), '0.25', 'leading .');
  assert.equal(normalizeMathAnswer('x+ .25'), 'x+0.25', '" ." → " 0."');
  assert.equal(normalizeMathAnswer('\\frac{.5}{2}'), '\\frac{0.5}{2}', '"{." → "{0."');
  assert.equal(normalizeMathAnswer('x = 5'), '5', 'left side ≤ 2 chars');
  assert.equal(normalizeMathAnswer('abc = 5'), 'abc=5', 'left side too long');
  assert.equal(normalizeMathAnswer('0.5'), '\\frac{1}{2}');
  assert.equal(normalizeMathAnswer('.5'), '\\frac{1}{2}');
  assert.equal(normalizeMathAnswer('3/4'), '\\frac{3}{4}');
  assert.equal(normalizeMathAnswer('-3/4'), '\\frac{-3}{4}');
  assert.equal(normalizeMathAnswer('3/x'), '3/x', 'only integer a/b');
  assert.equal(normalizeMathAnswer('1/2/3'), '1/2/3');
  assert.equal(normalizeMathAnswer('a\\!b'), 'ab');
  assert.equal(normalizeMathAnswer('\\\\frac{1}{2}'), '\\frac{1}{2}', '\\\\ → \\');
  assert.equal(normalizeMathAnswer('  7\n'), '7');
  assert.equal(normalizeMathAnswer(''), '');
});

test('normalizeMathAnswer: inputs on which the Python original raises come back trimmed and unwrapped', () => {
  assert.equal(normalizeMathAnswer(' 1 \\text{ m} \\text{ s} '), '1 \\text{ m} \\text{ s}');
  assert.equal(normalizeMathAnswer('2\\sqrt'), '2\\sqrt');
  assert.equal(normalizeMathAnswer('1 + \\frac'), '1 + \\frac');
});

// ---- §7.3 normaliser 2 ----

test('normalizeAnswerLoose: every listed rule', () => {
  assert.equal(normalizeAnswerLoose('\\$1,000'), '1000', '$, proper thousands separators');
  assert.equal(normalizeAnswerLoose('25\\%'), '25');
  assert.equal(normalizeAnswerLoose('1 or 2'), '1,2');
  assert.equal(normalizeAnswerLoose('1 and 2'), '1,2');
  assert.equal(normalizeAnswerLoose('3 million'), '3*10^6');
  assert.equal(normalizeAnswerLoose('2 billion'), '2*10^9');
  assert.equal(normalizeAnswerLoose('1 trillion'), '1*10^12');
  assert.equal(normalizeAnswerLoose('5 cm^2'), '5');
  assert.equal(normalizeAnswerLoose('12 inches'), '12');
  assert.equal(normalizeAnswerLoose('3 hours'), '3');
  assert.equal(normalizeAnswerLoose('45^\\circ'), '45');
  assert.equal(normalizeAnswerLoose('{7}'), '7', 'outer braces');
  assert.equal(normalizeAnswerLoose('1,\\!000'), '1000');
  assert.equal(normalizeAnswerLoose('12.0'), '12', 'integer-valued float');
  assert.equal(normalizeAnswerLoose('12.5'), '12.5');
  assert.equal(normalizeAnswerLoose('\\frac{3}{4}'), '3/4', 'LaTeX → text');
  assert.equal(normalizeAnswerLoose('\\frac{x+1}{2}'), '(x+1)/2');
  assert.equal(normalizeAnswerLoose('2\\sqrt{3}'), '2sqrt(3)');
  assert.equal(normalizeAnswerLoose('2\\pi'), '2pi');
  assert.equal(normalizeAnswerLoose('3 \\times 4'), '3*4');
  assert.equal(normalizeAnswerLoose('(-\\infty, 2]'), '(-inf,2]');
  assert.equal(normalizeAnswerLoose('7\\frac{3}{4}'), '7+3/4', 'mixed number');
  assert.equal(normalizeAnswerLoose('- 5'), '-5');
  assert.equal(normalizeAnswerLoose('\\text{Yes}'), 'yes', 'lower-case');
  assert.equal(normalizeAnswerLoose('\\textbf{B}'), 'b');
  assert.equal(normalizeAnswerLoose(''), '');
});

test('latexToText: groups, wrappers, symbols, optional sqrt index', () => {
  assert.equal(latexToText('\\frac{1}{2}'), '1/2');
  assert.equal(latexToText('\\frac{\\sqrt{2}}{2}'), '(sqrt(2))/2');
  assert.equal(latexToText('\\sqrt[3]{8}'), '(8)^(1/(3))');
  assert.equal(latexToText('\\alpha + \\beta'), 'α + β');
  assert.equal(latexToText('\\mathrm{kg}\\,\\cdot 2'), 'kg * 2');
  assert.equal(latexToText('\\unknown{5}'), '5');
  assert.equal(latexToText('\\frac'), '()/()', 'missing arguments render as empty groups');
});

test('splitTuple: tuples and intervals, thousands separators', () => {
  assert.deepEqual(splitTuple('(1,2)'), ['1', '2']);
  assert.deepEqual(splitTuple('[0, 1)'), ['0', '1']);
  assert.deepEqual(splitTuple('1,000'), ['1000']);
  assert.deepEqual(splitTuple('((1,2),3)'), ['((1,2),3)']);
  assert.deepEqual(splitTuple(''), []);
});

// ---- numeric stand-in for sympy ----

test('evaluateArithmetic: integers, decimals, fractions, sqrt, pi, + − × ÷, ^, parentheses', () => {
  const close = (expr: string, value: number) => {
    const v = evaluateArithmetic(expr);
    assert.ok(v !== null && Math.abs(v - value) < 1e-12, `${expr} → ${v}, expected ${value}`);
  };
  close('3', 3);
  close('.5', 0.5);
  close('1/2', 0.5);
  close('\\frac{3}{4}', 0.75);
  close('\\dfrac{3}{4}', 0.75);
  close('sqrt(2)/2', Math.SQRT1_2);
  close('\\sqrt{8}', Math.sqrt(8));
  close('sqrt2', Math.SQRT2);
  close('2sqrt(3)', 2 * Math.sqrt(3));
  close('3pi', 3 * Math.PI);
  close('\\frac{\\pi}{2}', Math.PI / 2);
  close('2 \\times 3 \\div 4', 1.5);
  close('(1+2)*(3-4)', -3);
  close('-2^2', -4);
  close('2^-1', 0.5);
  close('2**3', 8);
  close('1e-3', 0.001);
  close('1/2pi', Math.PI / 2);
  for (const bad of ['x', '2x', '1/0', '(1', '1)', '', '2.5.3', 'sqrt(-1)', 'sin(1)', '*2']) {
    assert.equal(evaluateArithmetic(bad), null, bad);
  }
});

// ---- §7.3 grading ----

test('gradeAnswer: edge cases from the brief', () => {
  assert.equal(gradeAnswer('x = 5', '5'), true);
  assert.equal(gradeAnswer('\\text{5 cm}', '5'), true);
  assert.equal(gradeAnswer('(1, 2)', '(1,2)'), true);
  assert.equal(gradeAnswer('(2, 1)', '(1,2)'), false);
  assert.equal(gradeAnswer('.5', '0.5'), true);
  assert.equal(gradeAnswer('.5', '\\frac{1}{2}'), true);
  assert.equal(gradeAnswer('\\dfrac{3}{4}', '\\frac{3}{4}'), true);
  assert.equal(gradeAnswer('\\tfrac34', '0.75'), true);
  assert.equal(gradeAnswer('None', '1'), false);
  assert.equal(gradeAnswer('', '1'), false);
  assert.equal(gradeAnswer('', ''), true, 'identical after normaliser 1 (as MathRuler)');
});

test('gradeAnswer: tuples and intervals compare element-wise with the same brackets', () => {
  assert.equal(gradeAnswer('(0.5, 1)', '(\\frac{1}{2}, 1)'), true);
  assert.equal(gradeAnswer('[1, 2]', '(1, 2)'), false, 'different brackets');
  assert.equal(gradeAnswer('(1, 2, 3)', '(1, 2)'), false, 'different arity');
  assert.equal(gradeAnswer('(\\frac{2}{4}, 1)', '(\\frac{1}{2}, 1)'), false, 'unreduced fraction element');
  assert.equal(gradeAnswer('\\left[ 0, \\frac{\\pi}{2} \\right)', '[0, \\pi/2)'), true);
});

test('gradeAnswer: int vs non-int mismatch is wrong; numeric equality elsewhere', () => {
  assert.equal(gradeAnswer('\\sqrt{4}', '2'), false, 'integer truth needs a literal integer');
  assert.equal(gradeAnswer('2.5', '\\frac{5}{2}'), true);
  assert.equal(gradeAnswer('\\frac{5}{2}', '2.5'), true);
  assert.equal(gradeAnswer('2\\sqrt{2}', '\\sqrt{8}'), true);
  assert.equal(gradeAnswer('\\frac{\\sqrt{2}}{2}', '\\frac{1}{\\sqrt{2}}'), true);
  assert.equal(gradeAnswer('3.1415', '\\pi'), false, 'outside 1e-6 relative tolerance');
  assert.equal(gradeAnswer('3.14159', '\\pi'), true, 'inside 1e-6 relative tolerance');
  assert.equal(gradeAnswer('7\\frac{3}{4}', '7.75'), true, 'mixed number');
  assert.equal(gradeAnswer('-\\frac{1}{2}', '-0.5'), true);
  assert.equal(gradeAnswer('1,000', '1000'), true);
  assert.equal(gradeAnswer('1000.0', '1,000'), true);
  assert.equal(gradeAnswer('5', '6'), false);
  assert.equal(gradeAnswer('2x+1', '1+2x'), false, 'symbolic equality is out of scope (documented gap to sympy)');
  assert.equal(gradeAnswer('2x+1', '2x + 1'), true, 'but equal strings after normalisation pass');
  assert.equal(gradeAnswer('\\text{B}', 'b'), true, 'choice letters are case-insensitive');
});
