/**
 * Answer grading for math-style verifiable rewards (METHODS.md §7).
 *
 * A TypeScript port, written from the description in METHODS.md §7, of the semantics of EasyR1
 * `examples/reward_function/math.py` and MathRuler (`extract_boxed_content`, `grade_answer`, the MATH-dataset
 * `normalize_answer` and the PRM800K-style `_normalize`). Everything here is a pure string function.
 *
 * Pipeline used by the `boxed-accuracy` reward:
 *   response → {@link normalizeResponse} (§7.1 step 1) → {@link matchesThinkFormat} / {@link matchesDescriptionFormat}
 *   (§7.2) and {@link extractBoxed} (§7.1 step 2) → {@link gradeAnswer} against the ground truth (§7.3).
 */

// ---------------------------------------------------------------------------------------------------------------
// §7.1 Pre-normalisation and boxed extraction
// ---------------------------------------------------------------------------------------------------------------

/**
 * §7.1 step 1 (EasyR1 `math.py`): removes whitespace around `<`, `>` and `/` (every match of `\s*(<|>|\/)\s*` is
 * replaced by the captured character). Applied to the response before both the format and the
 * accuracy checks. As in EasyR1 it also rewrites answers such as `a / b` → `a/b` (METHODS.md §9 R-2: kept).
 * Idempotent.
 */
export function normalizeResponse(response: string): string {
  return response.replace(/\s*(<|>|\/)\s*/g, '$1');
}

const BOXED = '\\boxed{';

/**
 * The content of the **last** `\boxed{…}` in `text`, trimmed, or `null` when there is no `\boxed{` or its braces
 * never close. Scans from just after the last `\boxed{` with a brace counter starting at depth 0 (`{` → +1,
 * `}` → −1) and stops when the depth reaches −1 (METHODS.md §7.1 step 2).
 */
export function findBoxed(text: string): string | null {
  const start = text.lastIndexOf(BOXED);
  if (start < 0) return null;
  const from = start + BOXED.length;
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === -1) return text.slice(from, i).trim();
    }
  }
  return null;
}

/**
 * MathRuler `extract_boxed_content` semantics (METHODS.md §7.1 step 2): the trimmed content of the last
 * `\boxed{…}`, or the literal string `"None"` when there is no `\boxed{` or its braces are unbalanced.
 */
export function extractBoxed(text: string): string {
  return findBoxed(text) ?? 'None';
}

// ---------------------------------------------------------------------------------------------------------------
// §7.2 Format checks (full match, dot matches newline)
// ---------------------------------------------------------------------------------------------------------------

/** `<think>.*</think>.*\\boxed\{.*\}.*` (EasyR1 `math.py` `format_reward`), as a full match with the `s` flag. */
export const THINK_FORMAT = /^(?:<think>.*<\/think>.*\\boxed\{.*\}.*)$/s;

/**
 * `^\s*<description>.*?</description>\s*<think>.*?</think>\s*\\boxed\{.*?\}\s*$` (Vision-SR1
 * `see_think_ablation_noSelfReward.py`, IVR-R1 A.2), as a full match with the `s` flag.
 */
export const DESCRIPTION_FORMAT =
  /^(?:\s*<description>.*?<\/description>\s*<think>.*?<\/think>\s*\\boxed\{.*?\}\s*)$/s;

/**
 * §7.2 think + boxed format: true when the whole (pre-normalised, see {@link normalizeResponse}) response matches
 * {@link THINK_FORMAT}. The caller normalises; this function does not.
 */
export function matchesThinkFormat(response: string): boolean {
  return THINK_FORMAT.test(response);
}

/**
 * §7.2 description + think + boxed format: true when the whole (pre-normalised) response matches
 * {@link DESCRIPTION_FORMAT}. The caller normalises; this function does not.
 */
export function matchesDescriptionFormat(response: string): boolean {
  return DESCRIPTION_FORMAT.test(response);
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers emulating the Python built-ins the reference semantics rely on
// ---------------------------------------------------------------------------------------------------------------

/** Python `float(s)`: a number, or `null` where Python would raise ValueError. */
function pyFloat(s: string): number | null {
  const t = s.trim();
  const digits = '\\d(?:_?\\d)*';
  const num = new RegExp(`^[+-]?(?:${digits}(?:\\.(?:${digits})?)?|\\.${digits})(?:[eE][+-]?${digits})?$`);
  if (num.test(t)) return Number(t.replaceAll('_', ''));
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(t);
  if (special) {
    if (special[2]!.toLowerCase() === 'nan') return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  return null;
}

/** Python `abs(x - int(round(x))) <= 1e-7`; false where Python raises (inf, nan). */
function isIntegral(x: number): boolean {
  return Number.isFinite(x) && Math.abs(x - Math.round(x)) <= 1e-7;
}

/** Python `str(int(x))` for a finite float (exact digits, no exponent notation). */
function intString(x: number): string {
  return BigInt(Math.trunc(x)).toString();
}

/** First code point of `s` (Python `s[0]`); throws (IndexError) when empty. */
function head(s: string): string {
  const cp = s.codePointAt(0);
  if (cp === undefined) throw new RangeError('string index out of range');
  return String.fromCodePoint(cp);
}

// ---------------------------------------------------------------------------------------------------------------
// §7.3 normaliser 1: the MATH-dataset `normalize_answer`
// ---------------------------------------------------------------------------------------------------------------

/** `\sqrt2` → `\sqrt{2}` (only the first character after `\sqrt` is wrapped). Throws on `\sqrt` at the end. */
function fixSqrt(s: string): string {
  if (!s.includes('\\sqrt')) return s;
  const parts = s.split('\\sqrt');
  let out = parts[0]!;
  for (const part of parts.slice(1)) {
    const c = head(part);
    out += c !== '{' ? `\\sqrt{${c}}${part.slice(c.length)}` : `\\sqrt${part}`;
  }
  return out;
}

/**
 * `\frac12` → `\frac{1}{2}`, `\frac1b` → `\frac{1}{b}`, `\frac1{72}` → `\frac{1}{72}` (not `\frac{72}1`).
 * Returns the input unchanged when a `\frac` is followed by a single character; throws on `\frac` at the end.
 */
function fixFracs(s: string): string {
  const parts = s.split('\\frac');
  let out = parts[0]!;
  for (const part of parts.slice(1)) {
    out += '\\frac';
    const a = head(part);
    if (a === '{') {
      out += part;
      continue;
    }
    const rest = part.slice(a.length);
    if (rest.length === 0) return s;
    const b = head(rest);
    const post = rest.slice(b.length);
    out += b !== '{' ? `{${a}}{${b}}${post}` : `{${a}}${b}${post}`;
  }
  return out;
}

/** Integer `a/b` (canonical integers, as `str(int(a))/str(int(b))`) → `\frac{a}{b}`. */
function fixASlashB(s: string): string {
  const m = /^(0|-?[1-9]\d*)\/(0|-?[1-9]\d*)$/.exec(s);
  return m ? `\\frac{${m[1]}}{${m[2]}}` : s;
}

/** Units written as `… \text{ unit}`: keeps the left part. Throws when `\text{ ` occurs more than once. */
function removeRightUnits(s: string): string {
  if (!s.includes('\\text{ ')) return s;
  const parts = s.split('\\text{ ');
  if (parts.length !== 2) throw new Error('more than one "\\text{ " unit');
  return parts[0]!;
}

function stripString(input: string): string {
  let s = input;
  s = s.replaceAll('\n', '');
  s = s.replaceAll('\\!', '');
  s = s.replaceAll('\\\\', '\\');
  s = s.replaceAll('tfrac', 'frac');
  s = s.replaceAll('dfrac', 'frac');
  s = s.replaceAll('\\left', '');
  s = s.replaceAll('\\right', '');
  s = s.replaceAll('^{\\circ}', '');
  s = s.replaceAll('^\\circ', '');
  s = s.replaceAll('\\$', '');
  s = removeRightUnits(s);
  s = s.replaceAll('\\%', '');
  s = s.replaceAll(' .', ' 0.');
  s = s.replaceAll('{.', '{0.');
  if (s.length === 0) return s;
  if (s.startsWith('.')) s = `0${s}`;
  const sides = s.split('=');
  if (sides.length === 2 && sides[0]!.length <= 2) s = sides[1]!;
  s = fixSqrt(s);
  s = s.replaceAll(' ', '');
  s = fixFracs(s);
  if (s === '0.5') s = '\\frac{1}{2}';
  s = fixASlashB(s);
  return s;
}

/**
 * §7.3 normaliser 1 — the MATH-dataset `normalize_answer` (Hendrycks et al.; MathRuler `math_normalize`), rule for
 * rule and in order: trim; unwrap a whole-answer `\text{…}`; drop newlines and `\!`; `\\` → `\`; `tfrac`/`dfrac` →
 * `frac`; drop `\left`, `\right`, `^{\circ}`, `^\circ`, `\$`; drop units after `\text{ `; drop `\%`; ` .` → ` 0.`,
 * `{.` → `{0.`, leading `.` → `0.`; `k = 5` → ` 5` when the left side has ≤ 2 characters; `\sqrt2` → `\sqrt{2}`;
 * drop spaces; `\fracab` → `\frac{a}{b}`; `0.5` → `\frac{1}{2}`; integer `a/b` → `\frac{a}{b}`.
 * Where the Python original raises (two `\text{ ` units, a trailing `\sqrt` or `\frac`) the trimmed, unwrapped
 * input is returned, as `normalize_answer`'s `except` does.
 */
export function normalizeMathAnswer(answer: string): string {
  let a = answer.trim();
  try {
    const m = /^\\text\{(?<text>[^\n]+?)\}$/.exec(a);
    if (m) a = m.groups!['text']!.trim();
    return stripString(a);
  } catch {
    return a;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// LaTeX → text (stands in for pylatexenc's LatexNodes2Text inside normaliser 2)
// ---------------------------------------------------------------------------------------------------------------

const GREEK: Record<string, string> = {
  alpha: 'α', beta: 'β', gamma: 'γ', delta: 'δ', epsilon: 'ϵ', varepsilon: 'ε', zeta: 'ζ', eta: 'η', theta: 'θ',
  vartheta: 'ϑ', iota: 'ι', kappa: 'κ', lambda: 'λ', mu: 'μ', nu: 'ν', xi: 'ξ', pi: 'π', rho: 'ρ', sigma: 'σ',
  tau: 'τ', upsilon: 'υ', phi: 'ϕ', varphi: 'φ', chi: 'χ', psi: 'ψ', omega: 'ω', Gamma: 'Γ', Delta: 'Δ',
  Theta: 'Θ', Lambda: 'Λ', Xi: 'Ξ', Pi: 'Π', Sigma: 'Σ', Phi: 'Φ', Psi: 'Ψ', Omega: 'Ω',
};

const SYMBOLS: Record<string, string> = {
  ...GREEK,
  infty: '∞', cup: '∪', cap: '∩', cdot: '·', times: '×', div: '÷', pm: '±', mp: '∓', le: '≤', leq: '≤',
  ge: '≥', geq: '≥', ne: '≠', neq: '≠', approx: '≈', circ: '∘', degree: '°', in: '∈', emptyset: '∅',
  varnothing: '∅', to: '→', rightarrow: '→', ldots: '...', dots: '...', cdots: '...', mid: '|', prime: "'",
};

const FUNCTION_NAMES = new Set([
  'log', 'ln', 'lg', 'exp', 'sin', 'cos', 'tan', 'sec', 'csc', 'cot', 'arcsin', 'arccos', 'arctan', 'sinh', 'cosh',
  'tanh', 'max', 'min', 'lim', 'det', 'gcd', 'deg', 'mod', 'bmod',
]);

/** Macros whose single argument is rendered as plain content. */
const WRAPPERS = new Set([
  'text', 'textrm', 'textbf', 'textit', 'textnormal', 'textsf', 'texttt', 'mathrm', 'mathbf', 'mathit', 'mathsf',
  'mathtt', 'mathbb', 'mathcal', 'mathnormal', 'mbox', 'hbox', 'operatorname', 'boxed', 'overline', 'underline',
  'bar', 'hat', 'vec', 'tilde', 'widehat', 'overrightarrow',
]);

/** Spacing macros: rendered as a space (dropped later with the other spaces). */
const SPACES = new Set([',', ';', ':', ' ', 'quad', 'qquad', '\\', 'enspace', 'thinspace']);

/** Macros rendered as nothing. */
const DROPPED = new Set([
  '!', 'left', 'right', 'displaystyle', 'textstyle', 'big', 'Big', 'bigg', 'Bigg', 'bigl', 'bigr', 'Bigl', 'Bigr',
  'biggl', 'biggr', 'limits', 'nolimits', 'nonumber',
]);

const ESCAPED: Record<string, string> = { '{': '{', '}': '}', '%': '%', '$': '$', '&': '&', '#': '#', '_': '_', '|': '‖' };

/** `a/b` when both parts are single atoms, else `(a)/(b)`; a leading space keeps mixed numbers apart (`7 3/4`). */
function formatFrac(num: string, den: string): string {
  const n = num.trim();
  const d = den.trim();
  const atom = /^-?[\p{L}\p{N}.]+$/u;
  return ` ${atom.test(n) ? n : `(${n})`}/${atom.test(d) ? d : `(${d})`}`;
}

/**
 * Renders LaTeX as plain text, standing in for pylatexenc's `LatexNodes2Text().latex_to_text` followed by MathRuler's
 * character replacements (`√` → `sqrt`, `π` → `pi`, `∞` → `inf`, `∪` → `U`, `·`/`×` → `*`):
 * `\frac{a}{b}` → ` a/b` (or ` (a)/(b)` for compound parts), `\sqrt{x}` → `sqrt(x)`, `\sqrt[n]{x}` → `(x)^(1/(n))`,
 * groups `{…}` → their content, text/font wrappers → their argument, Greek letters and common symbols → Unicode,
 * spacing and sizing macros dropped, unknown macros → their arguments only. Never throws.
 */
export function latexToText(src: string): string {
  let i = 0;
  const n = src.length;

  const skipSpaces = (): void => {
    while (i < n && /\s/.test(src[i]!)) i++;
  };

  /** One macro argument: a `{…}` group or a single token. */
  const arg = (): string => {
    skipSpaces();
    if (i >= n) return '';
    const c = src[i]!;
    if (c === '{') return group();
    if (c === '\\') return macro();
    if (c === '}') return '';
    const ch = head(src.slice(i));
    i += ch.length;
    return ch;
  };

  const group = (): string => {
    i++; // '{'
    const out = seq(true);
    if (i < n && src[i] === '}') i++;
    return out;
  };

  const optional = (): string | null => {
    skipSpaces();
    if (src[i] !== '[') return null;
    const close = src.indexOf(']', i);
    if (close < 0) return null;
    const inner = latexToText(src.slice(i + 1, close));
    i = close + 1;
    return inner;
  };

  const macro = (): string => {
    i++; // '\'
    if (i >= n) return '';
    let name: string;
    if (/[a-zA-Z]/.test(src[i]!)) {
      const start = i;
      while (i < n && /[a-zA-Z]/.test(src[i]!)) i++;
      name = src.slice(start, i);
    } else {
      name = src[i]!;
      i++;
    }
    if (name === 'frac' || name === 'dfrac' || name === 'tfrac' || name === 'cfrac') {
      const num = arg();
      const den = arg();
      return formatFrac(num, den);
    }
    if (name === 'sqrt') {
      const index = optional();
      const radicand = arg();
      return index === null ? `√(${radicand})` : `(${radicand})^(1/(${index}))`;
    }
    if (WRAPPERS.has(name)) return arg();
    if (SPACES.has(name)) return ' ';
    if (DROPPED.has(name)) return '';
    if (name in ESCAPED) return ESCAPED[name]!;
    if (name in SYMBOLS) return SYMBOLS[name]!;
    if (FUNCTION_NAMES.has(name)) return name;
    return ''; // unknown macro: its braced arguments follow as ordinary groups
  };

  const seq = (closing: boolean): string => {
    let out = '';
    while (i < n) {
      const c = src[i]!;
      if (c === '}') {
        if (closing) return out;
        i++;
        continue;
      }
      if (c === '{') out += group();
      else if (c === '\\') out += macro();
      else if (c === '~') {
        out += ' ';
        i++;
      } else {
        out += c;
        i++;
      }
    }
    return out;
  };

  return seq(false)
    .replaceAll('√', 'sqrt')
    .replaceAll('π', 'pi')
    .replaceAll('∞', 'inf')
    .replaceAll('∪', 'U')
    .replaceAll('·', '*')
    .replaceAll('×', '*')
    .trim();
}

// ---------------------------------------------------------------------------------------------------------------
// §7.3 normaliser 2: `_normalize`
// ---------------------------------------------------------------------------------------------------------------

const UNIT_WORDS = [
  'degree', 'cm', 'centimeter', 'meter', 'mile', 'second', 'minute', 'hour', 'day', 'week', 'month', 'year', 'foot',
  'feet', 'inch', 'yard',
];
const UNIT_PATTERNS = UNIT_WORDS.map((u) => new RegExp(`${u}(es)?(s)? *(\\^[0-9]+)?`, 'g'));

/** Drops thousands separators written properly (`1,234,567` → `1234567`), repeatedly. */
function stripProperlyFormattedCommas(expr: string): string {
  const p = /(\d)(,)(\d\d\d)($|\D)/g;
  let cur = expr;
  for (;;) {
    const next = cur.replace(p, '$1$3$4');
    if (next === cur) return next;
    cur = next;
  }
}

/** Python `_str_is_int`: parses as a float (after dropping thousands separators) within 1e-7 of an integer. */
function strIsInt(x: string): boolean {
  const v = pyFloat(stripProperlyFormattedCommas(x));
  return v !== null && isIntegral(v);
}

/**
 * §7.3 normaliser 2 — MathRuler's (PRM800K-style) `_normalize`, in order: unwrap a whole-answer `\text{…}`;
 * `\%` → `%`, `\$` → `$`, then drop `$` and `%`; ` or ` / ` and ` → ` , `; `million`/`billion`/`trillion` →
 * `*10^6`/`*10^9`/`*10^12`; delete unit words (degree, cm, centimeter, meter, mile, second, minute, hour, day, week,
 * month, year, foot, feet, inch, yard, with plural `es`/`s` and a `^n` power); drop `^\circ`; drop one pair of
 * outer braces; drop `,\!` thousands separators; integer-valued floats → ints (`12.0` → `12`); LaTeX → text
 * ({@link latexToText}) when a backslash remains; `- ` → `-`; mixed numbers `7 3/4` → `7+3/4`; drop spaces and
 * any remaining braces; lower-case; integers written with thousands separators → plain ints.
 */
export function normalizeAnswerLoose(input: string): string {
  let expr = input;
  const m = /^\\text\{(?<text>[^\n]+?)\}$/.exec(expr);
  if (m) expr = m.groups!['text']!;
  expr = expr.replaceAll('\\%', '%');
  expr = expr.replaceAll('\\$', '$');
  expr = expr.replaceAll('$', '');
  expr = expr.replaceAll('%', '');
  expr = expr.replaceAll(' or ', ' , ');
  expr = expr.replaceAll(' and ', ' , ');
  expr = expr.replaceAll('million', '*10^6');
  expr = expr.replaceAll('billion', '*10^9');
  expr = expr.replaceAll('trillion', '*10^12');
  for (const unit of UNIT_PATTERNS) expr = expr.replace(unit, '');
  expr = expr.replace(/\^ *\\circ/g, '');
  if (expr.length > 0 && expr.startsWith('{') && expr.endsWith('}')) expr = expr.slice(1, -1);
  expr = expr.replace(/,\\! */g, '');
  const asFloat = pyFloat(expr);
  if (asFloat !== null && isIntegral(asFloat)) expr = intString(Math.round(asFloat));
  if (expr.includes('\\')) {
    try {
      expr = latexToText(expr);
    } catch {
      // as MathRuler: keep the LaTeX when it cannot be parsed
    }
  }
  expr = expr.replace(/- */g, '-');
  expr = expr.replace(/([0-9]) +([0-9])/g, '$1+$2');
  expr = expr.replaceAll(' ', '');
  expr = expr.replaceAll('{', '');
  expr = expr.replaceAll('}', '');
  expr = expr.toLowerCase();
  if (strIsInt(expr)) expr = intString(pyFloat(expr.replaceAll(',', ''))!);
  return expr;
}

// ---------------------------------------------------------------------------------------------------------------
// §7.3 step 3 replacement: numeric evaluation of simple arithmetic
// ---------------------------------------------------------------------------------------------------------------

type Token =
  | { t: 'num'; v: number }
  | { t: 'pi' }
  | { t: 'sqrt' }
  | { t: 'op'; v: '+' | '-' | '*' | '/' | '^' }
  | { t: '(' }
  | { t: ')' };

function tokenize(s: string): Token[] | null {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const rest = s.slice(i);
    const c = s[i]!;
    const num = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(rest);
    if (num) {
      out.push({ t: 'num', v: Number(num[0]) });
      i += num[0].length;
    } else if (rest.startsWith('pi')) {
      out.push({ t: 'pi' });
      i += 2;
    } else if (c === 'π') {
      out.push({ t: 'pi' });
      i += 1;
    } else if (rest.startsWith('sqrt')) {
      out.push({ t: 'sqrt' });
      i += 4;
    } else if (c === '√') {
      out.push({ t: 'sqrt' });
      i += 1;
    } else if (rest.startsWith('**')) {
      out.push({ t: 'op', v: '^' });
      i += 2;
    } else if (c === '+' || c === '-' || c === '^') {
      out.push({ t: 'op', v: c });
      i += 1;
    } else if (c === '−') {
      out.push({ t: 'op', v: '-' });
      i += 1;
    } else if (c === '*' || c === '×' || c === '·') {
      out.push({ t: 'op', v: '*' });
      i += 1;
    } else if (c === '/' || c === '÷') {
      out.push({ t: 'op', v: '/' });
      i += 1;
    } else if (c === '(' || c === ')') {
      out.push({ t: c });
      i += 1;
    } else if (/\s/.test(c)) {
      i += 1;
    } else {
      return null;
    }
  }
  return out;
}

/**
 * Evaluates simple arithmetic as left by the normalisers: integers, decimals (`.5`, `1e-3`), `a/b`, `\frac{a}{b}`
 * (rendered `a/b`), `\sqrt{x}` / `sqrt(x)` / `sqrtx`, `\pi` / `pi`, `+ − × · * ÷ /`, `^` / `**` (right-associative,
 * binding tighter than unary minus as in Python), parentheses and implicit multiplication (`2sqrt(3)`, `3pi`,
 * `(1)(2)`). LaTeX input is first rendered with {@link latexToText}. Returns `null` for anything else (unknown
 * letters, malformed input, a non-finite result).
 */
export function evaluateArithmetic(expression: string): number | null {
  const text = expression.includes('\\') ? latexToText(expression).replaceAll('{', '').replaceAll('}', '') : expression;
  const tokens = tokenize(text);
  if (tokens === null || tokens.length === 0) return null;
  let p = 0;
  const peek = (): Token | undefined => tokens[p];
  const isOp = (tok: Token | undefined, v: string): boolean => tok?.t === 'op' && tok.v === v;
  const startsAtom = (tok: Token | undefined): boolean =>
    tok !== undefined && (tok.t === 'num' || tok.t === 'pi' || tok.t === 'sqrt' || tok.t === '(');

  const atom = (): number => {
    const tok = tokens[p++];
    if (tok === undefined) throw new Error('unexpected end');
    switch (tok.t) {
      case 'num':
        return tok.v;
      case 'pi':
        return Math.PI;
      case 'sqrt':
        return Math.sqrt(atom());
      case '(': {
        const v = sum();
        if (tokens[p++]?.t !== ')') throw new Error('unbalanced parentheses');
        return v;
      }
      default:
        throw new Error('unexpected token');
    }
  };
  const power = (): number => {
    const base = atom();
    if (isOp(peek(), '^')) {
      p++;
      return base ** unary();
    }
    return base;
  };
  const unary = (): number => {
    if (isOp(peek(), '-')) {
      p++;
      return -unary();
    }
    if (isOp(peek(), '+')) {
      p++;
      return unary();
    }
    return power();
  };
  const product = (): number => {
    let v = unary();
    for (;;) {
      const tok = peek();
      if (isOp(tok, '*')) {
        p++;
        v *= unary();
      } else if (isOp(tok, '/')) {
        p++;
        v /= unary();
      } else if (startsAtom(tok)) {
        // implicit multiplication; two bare numbers in a row (e.g. `2.5.3`) are malformed, as for sympy
        if (tok!.t === 'num' && tokens[p - 1]?.t === 'num') throw new Error('adjacent numbers');
        v *= power();
      } else return v;
    }
  };
  const sum = (): number => {
    let v = product();
    for (;;) {
      if (isOp(peek(), '+')) {
        p++;
        v += product();
      } else if (isOp(peek(), '-')) {
        p++;
        v -= product();
      } else return v;
    }
  };

  try {
    const v = sum();
    if (p !== tokens.length) return null;
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** Relative tolerance of the numeric fallback (METHODS.md §7.3 [A]). */
export const NUMERIC_RELATIVE_TOLERANCE = 1e-6;

/** MathRuler `should_allow_eval` gate: ≤ 2 unknown letters, no `^{`, `^(`, `^n^`, or multi-digit exponent. */
function shouldAllowEval(expr: string): boolean {
  const letters = new Set([...expr.replaceAll('sqrt', '').replaceAll('frac', '')].filter((ch) => /\p{L}/u.test(ch)));
  if (letters.size > 2) return false;
  if (expr.includes('^{') || expr.includes('^(')) return false;
  if (/\^[0-9]+\^/.test(expr) || /\^[0-9][0-9]+/.test(expr)) return false;
  return true;
}

/** Numeric stand-in for `are_equal_under_sympy`: both sides evaluate and agree within relative tolerance 1e-6. */
function numericallyEqual(truth: string, given: string): boolean {
  if (!shouldAllowEval(`(${truth})-(${given})`)) return false;
  const a = evaluateArithmetic(truth);
  const b = evaluateArithmetic(given);
  if (a === null || b === null) return false;
  if (a === b) return true;
  return Math.abs(a - b) <= NUMERIC_RELATIVE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
}

const TUPLE_CHARS = '()[]';

/** `(a, b)` / `[a, b)` … → trimmed elements; anything else → one element. Thousands separators are removed first. */
export function splitTuple(input: string): string[] {
  const expr = stripProperlyFormattedCommas(input);
  if (expr.length === 0) return [];
  const first = expr[0]!;
  const last = expr[expr.length - 1]!;
  const inner = expr.slice(1, -1);
  if (
    expr.length > 2 &&
    TUPLE_CHARS.includes(first) &&
    TUPLE_CHARS.includes(last) &&
    [...TUPLE_CHARS].every((ch) => !inner.includes(ch))
  ) {
    return inner.split(',').map((e) => e.trim());
  }
  return [expr];
}

/** A literal fraction such as `2/4` or `-3/8` (MathRuler `_is_frac`). */
function isFrac(expr: string): boolean {
  return /^-?[0-9]+.?\/0*[1-9][0-9]*.?$/.test(expr);
}

/**
 * Whether `given` is equivalent to the ground truth `truth` (MathRuler `grade_answer` semantics; TGRL Eq. 3
 * `is_equivalent`; METHODS.md §7.3):
 *  1. equal after {@link normalizeMathAnswer} → correct;
 *  2. else equal after {@link normalizeAnswerLoose} → correct (an empty normalised answer is wrong);
 *  3. else both are split into tuple/interval elements ({@link splitTuple}); a multi-element truth needs the same
 *     opening and closing bracket and the same number of elements; element-wise, two literal fractions must match
 *     exactly (unreduced fractions are wrong: `2/4` ≠ `1/2`), an integer against a non-integer is wrong, and
 *     otherwise the elements must be numerically equal ({@link evaluateArithmetic}, relative tolerance 1e-6).
 *
 * Gap to sympy (METHODS.md §9 R-1): MathRuler's step 3 accepts `simplify(truth − given) == 0`. This port only
 * evaluates closed-form arithmetic (numbers, fractions, `\sqrt`, `\pi`, + − × ÷, `^`, parentheses). Consequences:
 *  - answers with variables or functions are correct only when they match after normalisation (`2x+1` vs `1+2x`,
 *    `\sin(\pi/6)` vs `1/2`, `e^{0}` vs `1`, `\log_2 8` are rejected here where sympy may accept them);
 *  - the tolerance makes numerically close answers correct where sympy's exact arithmetic would not
 *    (`0.3333333` vs `\frac{1}{3}`: relative error 1e-7 → correct here, wrong in MathRuler);
 *  - MathRuler's gate on the sympy call (> 2 unknown letters, `^{`, `^(`, `^n^`, multi-digit exponents) is kept.
 */
export function gradeAnswer(given: string, truth: string): boolean {
  if (normalizeMathAnswer(truth) === normalizeMathAnswer(given)) return true;
  const truthNorm = normalizeAnswerLoose(truth);
  const givenNorm = normalizeAnswerLoose(given);
  if (truthNorm === givenNorm) return true;
  if (givenNorm.length === 0) return false;
  const truthElems = splitTuple(truthNorm);
  const givenElems = splitTuple(givenNorm);
  if (truthElems.length > 1 && (truthNorm[0] !== givenNorm[0] || truthNorm.at(-1) !== givenNorm.at(-1))) return false;
  if (truthElems.length !== givenElems.length) return false;
  return truthElems.every((t, k) => {
    const g = givenElems[k]!;
    if (isFrac(t) && isFrac(g)) return t === g;
    if (strIsInt(t) !== strIsInt(g)) return false;
    return numericallyEqual(t, g);
  });
}
