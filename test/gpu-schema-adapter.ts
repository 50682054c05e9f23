/**
 * Runs the string-id test messages (`{ id: string, priority? }`) through a schema-mode
 * GpuMessageQueue: each message is packed into a fixed-layout struct
 * `{ code: u32, half: f32, v: vec3<f32>, neg: i32 }` (code indexes the original message; the other
 * fields are derived from it and checked on the way out, so packing, WGSL alignment and device
 * storage are all exercised). The queue's rules and ordering are the GPU queue's own.
 */
import { GpuMessageQueue, defineMessage, type GpuQueueOptions, type Queue, type QueueOptions, type QueueStats, type WaitOptions } from 'ringkernel';
import type { Msg } from './helpers.js';

export const testSchema = defineMessage({ name: 'TestMsg', fields: { code: 'u32', half: 'f32', v: 'vec3<f32>', neg: 'i32' } });
type Enc = typeof testSchema.type;

export class SchemaAdapter implements Queue<Msg> {
  private originals: (Msg | undefined)[] = [];
  private constructor(readonly inner: GpuMessageQueue<Enc>) {}

  /** `extra`: GPU options (prefetch, verify, ...) on top of the contract's. */
  static async create(options: QueueOptions<Msg> = {}, extra: Omit<GpuQueueOptions<Enc>, keyof QueueOptions<Enc> | 'schema'> = {}): Promise<SchemaAdapter> {
    let adapter: SchemaAdapter | undefined;
    const onDrop = options.onDrop;
    const inner = await GpuMessageQueue.create<Enc>({
      ...(options as unknown as QueueOptions<Enc>),
      ...extra,
      schema: testSchema,
      onDrop: onDrop ? (e: Enc) => onDrop(adapter!.dec(e)) : undefined,
    });
    adapter = new SchemaAdapter(inner);
    return adapter;
  }

  enc(m: Msg): Enc {
    if (typeof m !== 'object' || m === null || typeof (m as { then?: unknown }).then === 'function') return m as unknown as Enc; // the queue reports the TypeError
    const code = this.originals.length;
    this.originals.push(m);
    const e: Enc = { code, half: code * 0.5, v: [code, -code, 1.5], neg: -code };
    if ('priority' in m) e.priority = m.priority;
    return e;
  }
  dec(e: Enc): Msg {
    const m = this.originals[e.code];
    if (m === undefined || e.half !== e.code * 0.5 || e.v[0] !== e.code || e.v[1] !== -e.code || e.v[2] !== 1.5 || e.neg !== -e.code) {
      throw new Error(`schema round trip corrupted a message: ${JSON.stringify(e)}`);
    }
    return m;
  }
  private decMaybe = (e: Enc | null): Msg | null => (e === null ? null : this.dec(e));

  put(m: Msg, o?: WaitOptions): Promise<void> {
    return this.inner.put(this.enc(m), o);
  }
  get(o?: WaitOptions): Promise<Msg> {
    return this.inner.get(o).then((e) => this.dec(e));
  }
  putNowait(m: Msg): boolean {
    return this.inner.putNowait(this.enc(m));
  }
  getNowait(): Msg | null {
    return this.decMaybe(this.inner.getNowait());
  }
  peek(): Msg | null {
    return this.decMaybe(this.inner.peek());
  }
  clear(): number {
    return this.inner.clear();
  }
  putMany(ms: readonly Msg[], o?: WaitOptions): Promise<void> {
    if (!Array.isArray(ms)) return this.inner.putMany(ms as never, o);
    return this.inner.putMany(ms.map((m) => this.enc(m)), o);
  }
  getMany(max: number, o?: WaitOptions): Promise<Msg[]> {
    return this.inner.getMany(max, o).then((es) => es.map((e) => this.dec(e)));
  }
  get size(): number {
    return this.inner.size;
  }
  get maxSize(): number {
    return this.inner.maxSize;
  }
  get isEmpty(): boolean {
    return this.inner.isEmpty;
  }
  get isFull(): boolean {
    return this.inner.isFull;
  }
  get stats(): Readonly<QueueStats> {
    return this.inner.stats;
  }
  get closed(): boolean {
    return this.inner.closed;
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
