/**
 * defineRingKernel: what a ring kernel is, checked once, for both backends.
 *
 * A ring kernel consumes messages of its `input` schema and emits messages of its `output`
 * schema (none for a sink), at most `maxEmits` per input, keeping optional `state` between
 * ticks. Its logic is given twice: `wgsl` (a `handle(msg, priority)` function run on the GPU,
 * one invocation per message) and `cpu` (the same in JavaScript, for the CPU backend).
 *
 * On the device every message travels in an *envelope*: the schema's fields followed by a
 * 64-bit correlation tag (`rk_tag_lo`, `rk_tag_hi`), which rk_emit copies from the message being
 * handled to its outputs. The envelope has the schema's field offsets, so the schema's own
 * pack/unpack read and write its fields in an envelope record unchanged.
 */
import { buildSchema, type FieldType, type MessageSchema } from '../schema/define-message.js';
import { structDeclarations, typeLayout } from '../schema/wgsl-size.js';

/** What a CPU handler gets besides the message. */
export interface KernelContext<Out> {
  /** Emits an output (its `priority` defaults to 128); false when this input already emitted `maxEmits`. */
  emit(out: Out): boolean;
  /** Records a failure with a code (counted in telemetry; the message still counts as processed). */
  fail(code: number): void;
  /** The kernel's state, `state.bytes` long, zero at launch; little-endian, as on the GPU. */
  readonly state: DataView;
}

export interface KernelStateSpec {
  /** The WGSL type of `rk_state`, e.g. 'array<atomic<u32>, 4>', or a struct declared in the kernel's `wgsl`. */
  type: string;
  /**
   * Its size in bytes (a positive multiple of 4). May be left out where ringkernel can size the
   * type (built-in types, fixed arrays of them, structs of them declared in `wgsl`); given, it
   * must be that size (a runtime-sized array: a whole number of its elements).
   */
  bytes?: number;
}

/** A kernel's state as its definition holds it: the size is always known. */
export interface KernelStateLayout {
  readonly type: string;
  readonly bytes: number;
}

export interface RingKernelSpec<In extends object, Out extends object> {
  /** Default kernel id. */
  name: string;
  input: MessageSchema<In>;
  /** Omit for a sink. */
  output?: MessageSchema<Out>;
  /** Outputs per input, at most. Default 1 (0 for a sink). */
  maxEmits?: number;
  state?: KernelStateSpec;
  /** WGSL defining `fn handle(msg: <Input>, priority: u32)`; it may call rk_emit(out, priority) -> bool, rk_fail(code), and use rk_state. */
  wgsl: string;
  /** The same logic in JavaScript, for the CPU backend. */
  cpu?: (msg: In & { priority: number }, ctx: KernelContext<Out & { priority?: number }>) => void;
}

export interface RingKernelDefinition<In extends object = any, Out extends object = any> {
  readonly name: string;
  readonly input: MessageSchema<In>;
  readonly output: MessageSchema<Out> | undefined;
  readonly maxEmits: number;
  readonly state: KernelStateLayout | undefined;
  readonly wgsl: string;
  readonly cpu: RingKernelSpec<In, Out>['cpu'];
  /** the device layout of an input message: its fields, then the tag */
  readonly inputEnvelope: MessageSchema<any>;
  readonly outputEnvelope: MessageSchema<any> | undefined;
}

/** Field names ringkernel adds to every message on the device. */
export const TAG_LO = 'rk_tag_lo';
export const TAG_HI = 'rk_tag_hi';

const KERNEL_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** A schema's envelope: its fields in order, then the two tag words (cached per schema). */
const envelopes = new WeakMap<MessageSchema<any>, MessageSchema<any>>();
export function envelopeOf(schema: MessageSchema<any>): MessageSchema<any> {
  let env = envelopes.get(schema);
  if (env === undefined) {
    const fields: Record<string, FieldType> = {};
    for (const f of schema.fields) {
      if (f.name.startsWith('rk_')) throw new TypeError(`schema ${schema.name}: field '${f.name}': names starting with rk_ are reserved for ringkernel`);
      fields[f.name] = f.type;
    }
    fields[TAG_LO] = 'u32';
    fields[TAG_HI] = 'u32';
    env = buildSchema(`RkEnvelope_${schema.name}`, fields);
    for (const f of schema.fields) {
      const e = env.fields.find((x) => x.name === f.name)!;
      if (e.offset !== f.offset) throw new Error(`internal: envelope of ${schema.name} moved field ${f.name}`);
    }
    envelopes.set(schema, env);
  }
  return env;
}

/** Word offset of the tag in an envelope (the `rk_tag_lo` word; `rk_tag_hi` follows). */
export function tagWord(envelope: MessageSchema<any>): number {
  return envelope.fields.find((f) => f.name === TAG_LO)!.offset / 4;
}

function isSchema(s: unknown): s is MessageSchema<any> {
  return typeof s === 'object' && s !== null && typeof (s as MessageSchema<any>).pack === 'function' && Array.isArray((s as MessageSchema<any>).fields);
}

/** Checks a kernel's definition; throws TypeError/RangeError naming what is wrong. */
export function defineRingKernel<In extends object, Out extends object = never>(spec: RingKernelSpec<In, Out>): RingKernelDefinition<In, Out> {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('defineRingKernel expects { name, input, output?, wgsl, cpu?, ... }');
  const { name, input, output, state, wgsl, cpu } = spec;
  if (typeof name !== 'string' || !KERNEL_NAME.test(name)) throw new TypeError(`kernel name must be letters, digits, _ or -, starting with a letter or _; got ${String(name)}`);
  if (!isSchema(input)) throw new TypeError(`kernel '${name}': input must be a schema from defineMessage()`);
  if (output !== undefined && !isSchema(output)) throw new TypeError(`kernel '${name}': output must be a schema from defineMessage() (or omitted for a sink)`);
  const maxEmits = spec.maxEmits ?? (output ? 1 : 0);
  if (!Number.isSafeInteger(maxEmits) || maxEmits < 0) throw new RangeError(`kernel '${name}': maxEmits must be a non-negative integer, got ${String(maxEmits)}`);
  if (output === undefined && maxEmits !== 0) throw new RangeError(`kernel '${name}': a sink (no output) emits nothing: maxEmits must be 0`);
  if (output !== undefined && maxEmits === 0) throw new RangeError(`kernel '${name}': maxEmits must be at least 1 for a kernel with an output`);
  if (maxEmits > 256) throw new RangeError(`kernel '${name}': maxEmits must be at most 256, got ${maxEmits}`);
  if (typeof wgsl !== 'string') throw new TypeError(`kernel '${name}': wgsl must be a string defining fn handle(msg: ${input.name}, priority: u32)`);
  if (output !== undefined && output.name === input.name && !sameSchema(input, output)) {
    throw new TypeError(
      `kernel '${name}': input and output schemas are both named '${input.name}' but differ; on the device one struct name means one layout: give them different names (defineMessage({ name, fields }))`,
    );
  }
  const stateBytes = state === undefined ? undefined : checkState(name, state, wgsl, [input, output]);
  if (cpu !== undefined && typeof cpu !== 'function') throw new TypeError(`kernel '${name}': cpu must be a function (msg, ctx) => void`);
  return Object.freeze({
    name,
    input,
    output,
    maxEmits,
    state: state ? Object.freeze({ type: state.type, bytes: stateBytes! }) : undefined,
    wgsl,
    cpu,
    inputEnvelope: envelopeOf(input),
    outputEnvelope: output ? envelopeOf(output) : undefined,
  });
}

/** Checks a kernel's state spec against the size of its WGSL type (where it can be sized); returns its bytes. */
function checkState(name: string, state: KernelStateSpec, wgsl: string, schemas: readonly (MessageSchema<any> | undefined)[]): number {
  if (typeof state !== 'object' || state === null || typeof state.type !== 'string' || state.type.trim() === '') {
    throw new TypeError(`kernel '${name}': state must be { type: '<WGSL type>', bytes?: <size> }`);
  }
  const { type, bytes } = state;
  if (bytes !== undefined && (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes % 4 !== 0)) {
    throw new RangeError(`kernel '${name}': state.bytes must be a positive multiple of 4, got ${String(bytes)}`);
  }
  const structs = structDeclarations([wgsl, ...schemas.map((s) => s?.wgsl ?? '')].join('\n'));
  const layout = typeLayout(type, structs);
  if (layout === undefined) {
    if (bytes === undefined) throw new RangeError(`kernel '${name}': state.bytes is needed: ringkernel cannot size the WGSL type ${type} itself`);
    return bytes;
  }
  if (!layout.runtimeSized) {
    const size = roundUp4(layout.size);
    if (bytes !== undefined && bytes !== size) throw new RangeError(`kernel '${name}': state type ${type} is ${size} bytes, but state.bytes is ${bytes}`);
    return size;
  }
  if (bytes === undefined) throw new RangeError(`kernel '${name}': state type ${type} is runtime-sized: give state.bytes (${layout.size} + k * ${layout.stride})`);
  if (bytes < layout.size || (bytes - layout.size) % layout.stride !== 0) {
    throw new RangeError(`kernel '${name}': state type ${type} takes ${layout.size} + k * ${layout.stride} bytes, but state.bytes is ${bytes}`);
  }
  return bytes;
}

const roundUp4 = (n: number): number => Math.ceil(n / 4) * 4;

/** Two schemas carry the same messages: the same fields, types and layout. */
export function sameSchema(a: MessageSchema<any>, b: MessageSchema<any>): boolean {
  if (a === b) return true;
  return a.name === b.name && a.size === b.size && a.fields.length === b.fields.length && a.fields.every((f, i) => f.name === b.fields[i].name && f.type === b.fields[i].type);
}
