/**
 * defineMessage: a fixed-layout message type shared by TypeScript and WGSL.
 *
 * `defineMessage({ fields: { a: 'u32', b: 'f32', v: 'vec4<f32>', xs: 'array<f32, 8>' } })` gives
 *  - the TypeScript type (`typeof schema.type`, i.e.
 *    `{ a: number; b: number; v: [n,n,n,n]; xs: number[]; priority?: number }`),
 *  - `wgsl`: the WGSL struct text, laid out by the WGSL alignment rules for storage buffers
 *    (scalars and arrays of scalars 4, vec2 8, vec3/vec4 16; struct size rounded up to its
 *    largest alignment, which is also the array stride),
 *  - `pack`/`unpack` between objects and u32 words in that layout, and `check` which refuses a
 *    message that does not fit (missing field, wrong type, integer out of range or not an
 *    integer, NaN in an integer field, an array of the wrong length) with a TypeError/RangeError
 *    naming the field.
 * Priority is not a field: it is `m.priority` as everywhere else (0..255, default 128).
 */
import { DEFAULT_PRIORITY } from '../queue/contract.js';
import { checkPriority } from '../queue/message.js';
import { checkStructName, checkWgslIdentifier } from './wgsl-names.js';

export type ScalarType = 'u32' | 'i32' | 'f32';
export type FieldType =
  | ScalarType
  | 'vec2<u32>' | 'vec3<u32>' | 'vec4<u32>'
  | 'vec2<i32>' | 'vec3<i32>' | 'vec4<i32>'
  | 'vec2<f32>' | 'vec3<f32>' | 'vec4<f32>'
  | `array<${ScalarType}, ${number}>`;

/** Longest fixed-length array field (elements). */
export const MAX_ARRAY_LENGTH = 4096;

type Vec<N extends number> = N extends 2 ? [number, number] : N extends 3 ? [number, number, number] : [number, number, number, number];
/** Arrays typed as tuples up to this length (longer ones as number[]: a tuple of thousands helps nobody). */
type TupleLength = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 | 16;
type Tuple<N extends number, T extends number[] = []> = T['length'] extends N ? T : Tuple<N, [...T, number]>;
export type FieldValue<F extends FieldType> = F extends ScalarType
  ? number
  : F extends `vec${infer N extends number}<${string}>`
    ? Vec<N>
    : F extends `array<${ScalarType}, ${infer N extends number}>`
      ? N extends TupleLength
        ? Tuple<N>
        : number[]
      : F extends `array<${string}>`
        ? number[]
        : never;
export type MessageOf<Fs extends Record<string, FieldType>> = { [K in keyof Fs]: FieldValue<Fs[K]> } & { priority?: number };

export interface FieldLayout {
  name: string;
  type: FieldType;
  scalar: ScalarType;
  /** 1 for a scalar, 2..4 for a vector, N for `array<T, N>` */
  components: number;
  /** true for `array<T, N>` (its value is an array even when N is 1) */
  array: boolean;
  /** byte offset in the struct */
  offset: number;
  align: number;
  size: number;
}

export interface MessageSchema<T extends object = Record<string, unknown>> {
  /** Only a type carrier: `typeof schema.type` is the message type. */
  readonly type: T;
  readonly name: string;
  readonly fields: readonly FieldLayout[];
  /** Struct size in bytes = array stride (a multiple of `align`). */
  readonly size: number;
  readonly align: number;
  /** Size in u32 words. */
  readonly words: number;
  /** WGSL `struct <name> { ... }` text. */
  readonly wgsl: string;
  /** Throws TypeError/RangeError when `m` does not fit; returns its priority. */
  check(m: unknown): number;
  /** Writes m's fields at `u32[offset ..]` (f32 view shares the buffer). Call `check` first. */
  pack(m: T, u32: Uint32Array, f32: Float32Array, i32: Int32Array, offset: number): void;
  /** Reads a message (fields plus `priority`) from `u32[offset ..]`. */
  unpack(u32: Uint32Array, f32: Float32Array, i32: Int32Array, offset: number, priority: number): T;
  /** A fresh message with exactly the schema's fields (arrays copied) and its priority (128 when absent). Call `check` first. */
  copy(m: T): T & { priority: number };
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED = new Set(['priority']);
function parseType(t: string): { scalar: ScalarType; components: number; array: boolean } | null {
  if (t === 'u32' || t === 'i32' || t === 'f32') return { scalar: t, components: 1, array: false };
  const m = /^vec([234])<(u32|i32|f32)>$/.exec(t);
  if (m) return { scalar: m[2] as ScalarType, components: Number(m[1]), array: false };
  const a = /^array<(u32|i32|f32),\s*([1-9][0-9]*)>$/.exec(t);
  if (a && Number(a[2]) <= MAX_ARRAY_LENGTH) return { scalar: a[1] as ScalarType, components: Number(a[2]), array: true };
  return null;
}

export function defineMessage<const Fs extends Record<string, FieldType>>(spec: {
  fields: Fs;
  name?: string;
}): MessageSchema<MessageOf<Fs>> {
  if (typeof spec !== 'object' || spec === null || typeof spec.fields !== 'object' || spec.fields === null) {
    throw new TypeError('defineMessage expects { fields: { name: type, ... } }');
  }
  const name = spec.name ?? 'Message';
  if (typeof name !== 'string' || !IDENT.test(name)) throw new TypeError(`schema name must be a WGSL identifier, got ${String(name)}`);
  checkStructName(name);
  return buildSchema(name, spec.fields);
}

/** @internal A schema of a name ringkernel chose itself (its envelopes: RkEnvelope_<name>); defineMessage checks the name first. */
export function buildSchema<const Fs extends Record<string, FieldType>>(name: string, specFields: Fs): MessageSchema<MessageOf<Fs>> {
  const entries = Object.entries(specFields);
  if (entries.length === 0) throw new TypeError('a message schema needs at least one field');
  const fields: FieldLayout[] = [];
  let offset = 0;
  let align = 4;
  for (const [fname, ftype] of entries) {
    if (!IDENT.test(fname) || fname.startsWith('__')) throw new TypeError(`field name ${fname} is not a WGSL identifier`);
    checkWgslIdentifier('field name', fname);
    if (RESERVED.has(fname)) throw new TypeError(`'${fname}' is not a field: the priority is the message's bucket`);
    const parsed = parseType(ftype);
    if (!parsed) {
      throw new TypeError(`field ${fname}: unsupported type ${String(ftype)} (u32, i32, f32, vecN<u32|i32|f32>, array<u32|i32|f32, N> with N in 1..${MAX_ARRAY_LENGTH})`);
    }
    const { scalar, components, array } = parsed;
    const falign = array || components === 1 ? 4 : components === 2 ? 8 : 16;
    const fsize = components * 4;
    offset = Math.ceil(offset / falign) * falign;
    fields.push({ name: fname, type: ftype, scalar, components, array, offset, align: falign, size: fsize });
    offset += fsize;
    align = Math.max(align, falign);
  }
  const size = Math.ceil(offset / align) * align;
  const wgsl = `struct ${name} {\n${fields.map((f) => `  ${f.name}: ${f.type}, // offset ${f.offset}`).join('\n')}\n}\n`;

  const checkScalar = (f: FieldLayout, v: unknown, where: string): void => {
    if (typeof v !== 'number') throw new TypeError(`field ${where} must be a number (${f.scalar}), got ${v === null ? 'null' : typeof v}`);
    if (f.scalar === 'u32') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`field ${where} must be an integer in 0..2^32-1 (u32), got ${v}`);
    } else if (f.scalar === 'i32') {
      if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`field ${where} must be an integer in -2^31..2^31-1 (i32), got ${v}`);
    }
    // f32: any number (NaN and infinities are representable in f32)
  };

  const check = (m: unknown): number => {
    if (typeof m !== 'object' || m === null) throw new TypeError(`a message must be an object, got ${m === null ? 'null' : typeof m}`);
    const rec = m as Record<string, unknown>;
    // a promise cannot resolve to a thenable (it would adopt it), so get() could never return one
    if (typeof rec.then === 'function') throw new TypeError('a message must not be a thenable (it has a then() method)');
    for (const f of fields) {
      const v = rec[f.name];
      if (v === undefined) throw new TypeError(`message is missing field ${f.name} (${f.type})`);
      if (!indexed(f)) checkScalar(f, v, f.name);
      else {
        if (!Array.isArray(v) && !ArrayBuffer.isView(v)) throw new TypeError(`field ${f.name} must be an array of ${f.components} numbers (${f.type})`);
        const arr = v as ArrayLike<unknown>;
        if (arr.length !== f.components) {
          throw new RangeError(`field ${f.name} must have ${f.components} ${f.array ? 'elements' : 'components'} (${f.type}), got ${arr.length}`);
        }
        for (let c = 0; c < f.components; c++) checkScalar(f, arr[c], `${f.name}[${c}]`);
      }
    }
    return checkPriority(rec.priority);
  };

  const pack = (m: MessageOf<Fs>, u32: Uint32Array, f32: Float32Array, i32: Int32Array, base: number): void => {
    const rec = m as Record<string, unknown>;
    for (let fi = 0; fi < fields.length; fi++) {
      const f = fields[fi];
      const o = base + (f.offset >> 2);
      const v = rec[f.name];
      if (!indexed(f)) {
        if (f.scalar === 'f32') f32[o] = v as number;
        else if (f.scalar === 'u32') u32[o] = v as number;
        else i32[o] = v as number;
      } else {
        const arr = v as ArrayLike<number>;
        for (let c = 0; c < f.components; c++) {
          if (f.scalar === 'f32') f32[o + c] = arr[c];
          else if (f.scalar === 'u32') u32[o + c] = arr[c];
          else i32[o + c] = arr[c];
        }
      }
    }
  };

  const unpack = (u32: Uint32Array, f32: Float32Array, i32: Int32Array, base: number, priority: number): MessageOf<Fs> => {
    const out: Record<string, unknown> = {};
    for (let fi = 0; fi < fields.length; fi++) {
      const f = fields[fi];
      const o = base + (f.offset >> 2);
      const view = f.scalar === 'f32' ? f32 : f.scalar === 'u32' ? u32 : i32;
      if (!indexed(f)) out[f.name] = view[o];
      else {
        const arr = new Array<number>(f.components);
        for (let c = 0; c < f.components; c++) arr[c] = view[o + c];
        out[f.name] = arr;
      }
    }
    out.priority = priority;
    return out as MessageOf<Fs>;
  };

  // Specialised pack/unpack/check for this layout (generated once per schema; field names are
  // WGSL identifiers, so they are safe as property names): no per-field dispatch, and unpack
  // builds one object literal, so every result shares one hidden class. The generic versions
  // above stay the reference: check falls back to them to report the exact error.
  const fast = compileFast(fields);
  const fastCheck = (m: unknown): number => {
    if (fast.ok(m)) return checkPriority((m as { priority?: unknown }).priority);
    return check(m);
  };

  return {
    type: undefined as unknown as MessageOf<Fs>,
    name,
    fields,
    size,
    align,
    words: size / 4,
    wgsl,
    check: fastCheck,
    pack: fast.pack as typeof pack,
    unpack: fast.unpack as typeof unpack,
    copy: fast.copy as (m: MessageOf<Fs>) => MessageOf<Fs> & { priority: number },
  };
}

/** Whether a field's value is an array (a vector, or `array<T, N>` of any length). */
function indexed(f: FieldLayout): boolean {
  return f.array || f.components > 1;
}

type PackFn = (m: object, u32: Uint32Array, f32: Float32Array, i32: Int32Array, base: number) => void;
type UnpackFn = (u32: Uint32Array, f32: Float32Array, i32: Int32Array, base: number, priority: number) => object;

function compileFast(fields: readonly FieldLayout[]): { ok: (m: unknown) => boolean; pack: PackFn; unpack: UnpackFn; copy: (m: object) => object } {
  const view = (f: FieldLayout): string => (f.scalar === 'f32' ? 'f32' : f.scalar === 'u32' ? 'u32' : 'i32');
  const valid = (f: FieldLayout, v: string): string =>
    f.scalar === 'u32' ? `(typeof ${v} === 'number' && (${v} >>> 0) === ${v})`
      : f.scalar === 'i32' ? `(typeof ${v} === 'number' && (${v} | 0) === ${v})`
        : `(typeof ${v} === 'number')`;
  const okLines: string[] = [
    "if (typeof m !== 'object' || m === null || typeof m.then === 'function') return false;",
    'let v;',
  ];
  const packLines: string[] = [];
  const unpackParts: string[] = [];
  const copyParts: string[] = [];
  fields.forEach((f, fi) => {
    const key = JSON.stringify(f.name);
    const o = f.offset >> 2;
    okLines.push(`v = m[${key}];`);
    if (!indexed(f)) {
      okLines.push(`if (!${valid(f, 'v')}) return false;`);
      packLines.push(`${view(f)}[b + ${o}] = m[${key}];`);
      unpackParts.push(`${key}: ${view(f)}[b + ${o}]`);
      copyParts.push(`${key}: m[${key}]`);
    } else {
      const comps = Array.from({ length: f.components }, (_, c) => c);
      okLines.push(`if (!Array.isArray(v) || v.length !== ${f.components}) return false;`);
      packLines.push(`const a${fi} = m[${key}];`);
      copyParts.push(`${key}: Array.from(m[${key}])`);
      if (f.components <= 16) {
        for (const c of comps) okLines.push(`if (!${valid(f, `v[${c}]`)}) return false;`);
        for (const c of comps) packLines.push(`${view(f)}[b + ${o + c}] = a${fi}[${c}];`);
        unpackParts.push(`${key}: [${comps.map((c) => `${view(f)}[b + ${o + c}]`).join(', ')}]`);
      } else {
        // long arrays: loops instead of one line per element
        okLines.push(`for (let c = 0; c < ${f.components}; c++) { const e = v[c]; if (!${valid(f, 'e')}) return false; }`);
        packLines.push(`for (let c = 0; c < ${f.components}; c++) ${view(f)}[b + ${o} + c] = a${fi}[c];`);
        unpackParts.push(`${key}: Array.from(${view(f)}.subarray(b + ${o}, b + ${o + f.components}))`);
      }
    }
  });
  okLines.push('return true;');
  const ok = new Function('m', okLines.join('\n')) as (m: unknown) => boolean;
  const pack = new Function('m', 'u32', 'f32', 'i32', 'b', packLines.join('\n')) as PackFn;
  const unpack = new Function('u32', 'f32', 'i32', 'b', 'priority', `return { ${unpackParts.join(', ')}, priority: priority };`) as UnpackFn;
  const copy = new Function('m', `const p = m.priority; return { ${copyParts.join(', ')}, priority: p === undefined ? ${DEFAULT_PRIORITY} : p };`) as (m: object) => object;
  return { ok, pack, unpack, copy };
}
