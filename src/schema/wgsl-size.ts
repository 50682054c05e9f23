/**
 * The size of a WGSL type in a storage buffer (the WGSL "Memory Layout" rules), for the types a
 * kernel's state is made of: scalars, atomics, vectors, matrices, fixed and runtime-sized arrays,
 * and structs declared in the kernel's own WGSL (or a schema's). A type it cannot size (an
 * array length given by a constant, a member with @size or @align, an unknown name) is
 * `undefined`: the GPU backend still checks the buffer against the compiled shader at launch.
 */

export interface TypeLayout {
  /** bytes of one value; for a runtime-sized type, the least (one element of its array) */
  size: number;
  align: number;
  /** a runtime-sized array `array<T>` (alone, or as a struct's last member) */
  runtimeSized: boolean;
  /** runtime-sized: the array's element stride (a value is `size + k * stride` bytes) */
  stride: number;
}

const roundUp = (k: number, n: number): number => Math.ceil(n / k) * k;

const SCALARS: Record<string, number> = { f32: 4, i32: 4, u32: 4, f16: 2, bool: 4 };
const SHORT_SCALAR: Record<string, string> = { f: 'f32', i: 'i32', u: 'u32', h: 'f16' };

/** Struct declarations in WGSL source: name -> member types, in order (undefined members: a layout attribute). */
export function structDeclarations(source: string): Map<string, string[] | undefined> {
  const out = new Map<string, string[] | undefined>();
  const code = withoutComments(source);
  for (const m of code.matchAll(/\bstruct\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{([^}]*)\}/g)) {
    const body = m[2];
    if (/@\s*(size|align)\b/.test(body)) {
      out.set(m[1], undefined);
      continue;
    }
    const members = splitTopLevel(body, ',')
      .map((s) => s.replace(/@[A-Za-z_]+(\([^)]*\))?/g, '').trim())
      .filter((s) => s !== '')
      .map((s) => s.slice(s.indexOf(':') + 1).trim());
    out.set(m[1], members);
  }
  return out;
}

/** WGSL without its comments: line comments, and block comments, which nest. */
function withoutComments(source: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < source.length; i++) {
    const two = source.slice(i, i + 2);
    if (two === '/*') {
      depth++;
      i++;
    } else if (two === '*/' && depth > 0) {
      depth--;
      i++;
    } else if (depth === 0 && two === '//') {
      while (i < source.length && source[i] !== '\n') i++;
      out += '\n';
    } else if (depth === 0) {
      out += source[i];
    }
  }
  return out;
}

/** Splits at `sep` outside <...> and (...). */
function splitTopLevel(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '<' || c === '(') depth++;
    else if (c === '>' || c === ')') depth--;
    else if (c === sep && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** The layout of `type`, or undefined when it cannot be sized here. */
export function typeLayout(type: string, structs: ReadonlyMap<string, string[] | undefined>, seen: ReadonlySet<string> = new Set()): TypeLayout | undefined {
  const t = type.replace(/\s+/g, '');
  const fixed = (size: number, align: number): TypeLayout => ({ size, align, runtimeSized: false, stride: 0 });
  if (Object.hasOwn(SCALARS, t)) return fixed(SCALARS[t], SCALARS[t]);
  let m = /^atomic<(u32|i32)>$/.exec(t);
  if (m) return fixed(4, 4);
  m = /^vec([234])(?:<(f32|i32|u32|f16|bool)>|([fiuh]))$/.exec(t);
  if (m) return vector(Number(m[1]), SCALARS[m[2] ?? SHORT_SCALAR[m[3]]]);
  m = /^mat([234])x([234])(?:<(f32|f16)>|([fh]))$/.exec(t);
  if (m) {
    const column = vector(Number(m[2]), SCALARS[m[3] ?? SHORT_SCALAR[m[4]]]);
    return fixed(Number(m[1]) * roundUp(column.align, column.size), column.align);
  }
  if (t.startsWith('array<') && t.endsWith('>')) {
    const args = splitTopLevel(t.slice(6, -1), ',');
    const element = typeLayout(args[0], structs, seen);
    if (element === undefined || element.runtimeSized) return undefined;
    const stride = roundUp(element.align, element.size);
    if (args.length === 1) return { size: stride, align: element.align, runtimeSized: true, stride };
    const count = /^([1-9][0-9]*)[ui]?$/.exec(args[1]);
    if (args.length !== 2 || count === null) return undefined;
    return fixed(Number(count[1]) * stride, element.align);
  }
  const members = structs.get(t);
  if (members === undefined || seen.has(t)) return undefined;
  const inner = new Set(seen).add(t);
  let offset = 0;
  let align = 1;
  for (const [i, member] of members.entries()) {
    const l = typeLayout(member, structs, inner);
    if (l === undefined || (l.runtimeSized && i !== members.length - 1)) return undefined;
    offset = roundUp(l.align, offset) + l.size;
    align = Math.max(align, l.align);
    // (the least size of a struct ending in a runtime-sized array: one element, rounded to the struct's alignment)
    if (l.runtimeSized) return { size: roundUp(align, offset), align, runtimeSized: true, stride: l.stride };
  }
  return fixed(roundUp(align, offset), align);
}

function vector(n: number, scalar: number): TypeLayout {
  const align = n === 2 ? 2 * scalar : 4 * scalar;
  return { size: n * scalar, align, runtimeSized: false, stride: 0 };
}
