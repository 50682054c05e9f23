/**
 * Numbers as WGSL stores them, for the CPU backend: a message sent to a kernel and an output a
 * handler emits are kept as the GPU backend's buffers would hold them, so both backends give the
 * same values. An `f32` field (scalar, vector or array element) is rounded to 32 bits
 * (Math.fround); an `i32` or `u32` field holding a safe integer (|v| < 2^53) is wrapped to 32
 * bits (ToInt32 / ToUint32: two's complement, as WGSL's integer arithmetic wraps). Anything else
 * (a fraction or an integer past 2^53 in an integer field, whose low bits JavaScript has already
 * lost, a string, a missing field) is left as it is, for the schema's check to refuse. Vectors
 * and arrays, plain or typed, become fresh plain arrays, as the GPU backend returns them. JavaScript arithmetic itself is the handler's: a product of two 32-bit
 * integers past 2^53 loses bits before it is wrapped (Math.imul does not), and a chain of float
 * operations rounds once at the end unless each step is rounded (README, "Numbers").
 *
 * Generated once per schema (field names are WGSL identifiers, safe as property names): one
 * object literal per message, the schema's fields and its priority (128 when absent), like
 * MessageSchema.copy.
 */
import type { MessageSchema } from '../../schema/define-message.js';

/** A message's stored form: the schema's fields, as WGSL stores them, and its priority. */
export type StoreAsWgsl = (m: object) => { priority: number } & Record<string, unknown>;

const DEFAULT_PRIORITY = 128;
const made = new WeakMap<MessageSchema<any>, StoreAsWgsl>();

export function storeAsWgsl(schema: MessageSchema<any>): StoreAsWgsl {
  let store = made.get(schema);
  if (store === undefined) made.set(schema, (store = generate(schema)));
  return store;
}

function generate(schema: MessageSchema<any>): StoreAsWgsl {
  const convert = (scalar: 'u32' | 'i32' | 'f32', v: string): string =>
    scalar === 'f32'
      ? `(typeof ${v} === 'number' ? Math.fround(${v}) : ${v})`
      : scalar === 'i32'
        ? `(Number.isSafeInteger(${v}) ? ${v} | 0 : ${v})`
        : `(Number.isSafeInteger(${v}) ? ${v} >>> 0 : ${v})`;
  const parts = schema.fields.map((f) => {
    const key = JSON.stringify(f.name);
    if (!f.array && f.components === 1) return `${key}: ${convert(f.scalar, `m[${key}]`)}`;
    // (not an array: left for the check to refuse)
    return `${key}: (Array.isArray(m[${key}]) || ArrayBuffer.isView(m[${key}]) ? Array.from(m[${key}], (e) => ${convert(f.scalar, 'e')}) : m[${key}])`;
  });
  return new Function('m', `const p = m.priority; return { ${parts.join(', ')}, priority: p === undefined ? ${DEFAULT_PRIORITY} : p };`) as StoreAsWgsl;
}
