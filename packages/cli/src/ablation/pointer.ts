/**
 * JSON pointers (RFC 6901) for ablation overrides: `/trainer/weighters/0/options/beta`. `~1` stands for `/` and `~0`
 * for `~` inside a key; `-` as the last token of an array appends.
 */

/** An override that cannot be applied; `message` says why, without naming the pointer (the caller does). */
export class PointerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PointerError';
  }
}

/** The reference tokens of a pointer (`''` → `[]`). @throws PointerError when it does not start with `/`. */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PointerError(`a JSON pointer starts with "/" (got "${pointer}")`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) throw new PointerError(`"~" must be followed by 0 or 1 in a JSON pointer token ("${token}")`);
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/** Escapes one key as a pointer token. */
export function escapeToken(key: string | number): string {
  return String(key).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The pointer of a path of keys. */
export function formatPointer(path: readonly (string | number)[]): string {
  return path.map((k) => `/${escapeToken(k)}`).join('');
}

const isContainer = (v: unknown): v is Record<string, unknown> | unknown[] => v !== null && typeof v === 'object';

/** An array index token: `0` or a positive integer without leading zeros. */
function arrayIndex(token: string, array: unknown[], allowEnd: boolean, at: string): number {
  if (token === '-' && allowEnd) return array.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new PointerError(`"${token}" is not an array index at ${at || '/'}`);
  const i = Number(token);
  const max = allowEnd ? array.length : array.length - 1;
  if (i > max) throw new PointerError(`index ${i} is out of range at ${at || '/'} (the array has ${array.length} elements)`);
  return i;
}

/** The value at a pointer, or `undefined` when some token does not resolve. */
export function getPointer(doc: unknown, pointer: string): unknown {
  let cur = doc;
  for (const token of parsePointer(pointer)) {
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(token)) return undefined;
      cur = cur[Number(token)];
    } else if (isContainer(cur)) {
      if (!Object.prototype.hasOwnProperty.call(cur, token)) return undefined;
      cur = (cur as Record<string, unknown>)[token];
    } else {
      return undefined;
    }
  }
  return cur;
}

/**
 * Sets the value at `pointer` in `doc` (mutated). Missing object keys along the way are created as objects, so
 * `/trainer/weighters/0/options/beta` works when the slot has no `options` yet; arrays are never created (a missing
 * key followed by an index is an error), and array indices must exist (or be the end, `-` or `length`, for the last
 * token: an append).
 * @throws PointerError when a token crosses a non-container or an index is out of range.
 */
export function setPointer(doc: unknown, pointer: string, value: unknown): void {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw new PointerError('the root "" cannot be overridden; name a key');
  let cur: unknown = doc;
  for (let k = 0; k < tokens.length; k++) {
    const token = tokens[k]!;
    const last = k === tokens.length - 1;
    const at = formatPointer(tokens.slice(0, k));
    if (Array.isArray(cur)) {
      const i = arrayIndex(token, cur, last, at);
      if (last) {
        cur[i] = value;
        return;
      }
      if (!isContainer(cur[i])) throw new PointerError(`${at}/${token} is not an object or array`);
      cur = cur[i];
    } else if (isContainer(cur)) {
      const obj = cur as Record<string, unknown>;
      if (last) {
        obj[token] = value;
        return;
      }
      if (obj[token] === undefined) {
        const next = tokens[k + 1]!;
        if (next === '-' || /^\d+$/.test(next)) {
          const missing = `${at}/${escapeToken(token)}`;
          throw new PointerError(`${missing} does not exist, so it has no element ${next}: set ${missing} to a whole list instead`);
        }
        obj[token] = {};
      }
      if (!isContainer(obj[token])) {
        throw new PointerError(`${at}/${escapeToken(token)} is ${JSON.stringify(obj[token])}, not an object or array`);
      }
      cur = obj[token];
    } else {
      throw new PointerError(`${at || '/'} is not an object or array`);
    }
  }
}

/**
 * Removes the value at `pointer` (an object key is deleted, an array element spliced out).
 * @throws PointerError when nothing is there.
 */
export function removePointer(doc: unknown, pointer: string): void {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw new PointerError('the root "" cannot be removed');
  const parentPointer = formatPointer(tokens.slice(0, -1));
  const parent = getPointer(doc, parentPointer);
  const token = tokens[tokens.length - 1]!;
  if (Array.isArray(parent)) {
    parent.splice(arrayIndex(token, parent, false, parentPointer), 1);
  } else if (isContainer(parent) && Object.prototype.hasOwnProperty.call(parent, token)) {
    delete (parent as Record<string, unknown>)[token];
  } else {
    throw new PointerError('there is nothing to remove there');
  }
}
