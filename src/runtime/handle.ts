/**
 * KernelHandle: one launched kernel, typed by its schemas — what `launch` resolves with. Every
 * call is the runtime's call of the same name with this kernel's id (same checks, same errors),
 * so a handle and the string-id API can be mixed freely; a message of the wrong shape is a
 * compile error, and outputs come typed. A handle names its kernel by id: after a terminate and
 * a new launch under the same id, it reaches the new kernel.
 */
import type { WaitOptions } from '../queue/contract.js';
import type { PackedBatch } from '../gpu/packed.js';
import type { RingKernelDefinition } from './kernel.js';
import type { KernelStateValue } from './state.js';
import type { KernelTelemetry } from './telemetry.js';

/** Fields of a message whose schema the caller did not name (`receive<typeof Res.type>(id)` names it). */
export type AnyFields = Record<string, any>;
/** A message a kernel takes: its input schema's fields, and optionally its priority (0..255, default 128). */
export type Input<T extends object = AnyFields> = T & { priority?: number };
/** An output as receive / receiveMany / sendAndReceive return it: the output schema's fields and its priority. */
export type Output<T extends object = AnyFields> = T & { priority: number };

/** The handle of a kernel definition: typed by its input and output schemas. */
export type HandleOf<D> = 0 extends 1 & D ? KernelHandle : D extends RingKernelDefinition<infer In, infer Out> ? KernelHandle<In, Out> : never;

/** The runtime's calls a handle makes (RingKernelRuntime implements them). */
export interface HandleHost {
  send(id: string, message: object, options?: WaitOptions): Promise<void>;
  sendMany(id: string, messages: readonly object[], options?: WaitOptions): Promise<void>;
  sendManyPacked(id: string, words: Uint32Array, priorities: Uint8Array, options?: WaitOptions): Promise<void>;
  sendAndReceive(id: string, message: object, options?: WaitOptions): Promise<any>;
  receive(id: string, options?: WaitOptions): Promise<any>;
  receiveMany(id: string, max: number, options?: WaitOptions): Promise<any[]>;
  receiveManyPacked(id: string, max: number, options?: WaitOptions): Promise<PackedBatch>;
  outputs(id: string, options?: { signal?: AbortSignal }): AsyncGenerator<any, void, undefined>;
  activate(id: string): Promise<void>;
  deactivate(id: string): Promise<void>;
  reactivate(id: string): Promise<void>;
  terminate(id: string): Promise<void>;
  state(id: string): KernelStateValue;
  readState(id: string): Promise<ArrayBuffer>;
  writeState(id: string, bytes: ArrayBuffer | ArrayBufferView): Promise<void>;
  telemetry(id: string): KernelTelemetry | null;
}

export class KernelHandle<In extends object = AnyFields, Out extends object = AnyFields> {
  // (a true private field: a handle logged or serialized shows its id, not its runtime)
  readonly #rt: HandleHost;
  /** the kernel's id in its runtime */
  readonly id: string;

  constructor(rt: HandleHost, id: string) {
    this.#rt = rt;
    this.id = id;
  }

  send(message: Input<In>, options?: WaitOptions): Promise<void> {
    return this.#rt.send(this.id, message, options);
  }
  sendMany(messages: readonly Input<In>[], options?: WaitOptions): Promise<void> {
    return this.#rt.sendMany(this.id, messages, options);
  }
  sendManyPacked(words: Uint32Array, priorities: Uint8Array, options?: WaitOptions): Promise<void> {
    return this.#rt.sendManyPacked(this.id, words, priorities, options);
  }
  sendAndReceive(message: Input<In>, options?: WaitOptions): Promise<Output<Out>> {
    return this.#rt.sendAndReceive(this.id, message, options);
  }
  receive(options?: WaitOptions): Promise<Output<Out>> {
    return this.#rt.receive(this.id, options);
  }
  receiveMany(max: number, options?: WaitOptions): Promise<Output<Out>[]> {
    return this.#rt.receiveMany(this.id, max, options);
  }
  receiveManyPacked(max: number, options?: WaitOptions): Promise<PackedBatch> {
    return this.#rt.receiveManyPacked(this.id, max, options);
  }
  /** `for await (const out of handle.outputs({ signal }))`: see RingKernelRuntime.outputs. */
  outputs(options?: { signal?: AbortSignal }): AsyncGenerator<Output<Out>, void, undefined> {
    return this.#rt.outputs(this.id, options);
  }
  activate(): Promise<void> {
    return this.#rt.activate(this.id);
  }
  deactivate(): Promise<void> {
    return this.#rt.deactivate(this.id);
  }
  reactivate(): Promise<void> {
    return this.#rt.reactivate(this.id);
  }
  terminate(): Promise<void> {
    return this.#rt.terminate(this.id);
  }
  state(): KernelStateValue {
    return this.#rt.state(this.id);
  }
  readState(): Promise<ArrayBuffer> {
    return this.#rt.readState(this.id);
  }
  writeState(bytes: ArrayBuffer | ArrayBufferView): Promise<void> {
    return this.#rt.writeState(this.id, bytes);
  }
  telemetry(): KernelTelemetry | null {
    return this.#rt.telemetry(this.id);
  }
}
