/**
 * A sequential reference model of RingKernelRuntime: what the runtime is meant to do (README
 * "Ring kernels", src/runtime/backend.ts TICK), written as the plainest simulator that does it.
 * It imports nothing from ringkernel: every answer is computed here, from arrays kept sorted by
 * (priority descending, arrival ascending), lists of waiters in FIFO order, a virtual clock, and
 * its own JavaScript version of each test kernel. runtime-reference.test.ts drives the real
 * runtime (both backends) with the same scenarios and requires the same transcript.
 *
 * THE MODEL IN ONE PAGE
 *   queue      capacity; a message has (priority, arrival seq); the most urgent is the highest
 *              priority, then the earliest arrival; DROP_OLDEST evicts the earliest arrival,
 *              whatever its priority.
 *   kernel     an input queue (its backpressure: block / reject / drop), an output queue of its
 *              own (terminal kernel with an output) or the downstream kernel's input (sendsTo),
 *              or none (sink); blocked senders (FIFO) on its input, waiting receivers (FIFO) on
 *              its output; counters; its state words.
 *   a group    the operations issued in one synchronous turn are applied one after the other
 *              (a terminate's effects come at the end of the turn: until then the kernel is
 *              'terminating'), then ticks run until no kernel can make progress.
 *   a tick     active kernels, upstream first (launch order among equals); kernel K takes
 *              n = min(input size now, maxMessagesPerTick, floor(output room / maxEmits)) most
 *              urgent messages, runs its handler on each in that order and puts the outputs in
 *              that order (priority clamped to 255); at the end of a chain an output of a
 *              request is its reply. After all kernels: waiting receivers are served, blocked
 *              senders admitted; then replies: the first output of a request whose caller
 *              waits resolves it, every other one goes to receive (inserted after the tick's
 *              other outputs); a waiting request with no message left anywhere rejects
 *              NoReplyError.
 *   requests   every message carries the request it belongs to (or none) through every stage.
 *   time       only `advance` moves the clock; timers fire in (deadline, creation) order.
 *   terminate  rejects the kernel's blocked senders and waiting receivers, discards its
 *              input; a request rejects (KernelStateError) when its messages were all
 *              discarded with it; a request whose message already went downstream is answered.
 */

// ------------------------------------------------------------------ the scenario language

/** The fixed topology: a chain a → b → c, and three standalone kernels f, s, p. */
export type KernelId = 'a' | 'b' | 'c' | 'f' | 's' | 'p';
/** Launch order (a kernel is launched after the kernel it sends to). */
export const LAUNCH_ORDER: readonly KernelId[] = ['c', 'b', 'a', 'f', 's', 'p'];
export const STATEFUL: readonly ('c' | 's')[] = ['c', 's'];
export type Backpressure = 'block' | 'reject' | 'drop';
export type SchemaName = 'Num' | 'PosId';

export type Kind = 'double' | 'spread' | 'tally' | 'counter' | 'swap';
export interface KernelShape {
  kind: Kind;
  schema: SchemaName;
  sendsTo?: KernelId;
  maxEmits: number;
  hasOutput: boolean;
  stateWords: number;
}
/**
 * What each kernel is (the test file defines the real ones, WGSL + cpu, to match):
 *   double  Num → Num      v * 2
 *   spread  Num → Num      maxEmits 5; v < 0 fails with code -v; else it tries to emit n = v & 7
 *                          copies { v: copy index, id }, copy c at priority p + c * step * 40
 *                          (step = (v >> 3) & 3): only the first 5 are accepted
 *   tally   Num → Num      state [count, xor of ids, failures, max priority]; v & 3 == 3 fails
 *                          with code 3 (no output), else emits v + 10
 *   counter Num sink       state [count, sum of v (u32), max id, 0]
 *   swap    PosId → PosId  pos (x, y) → (y, x + 0.5)
 */
export const SHAPES: Record<KernelId, KernelShape> = {
  a: { kind: 'double', schema: 'Num', sendsTo: 'b', maxEmits: 1, hasOutput: true, stateWords: 0 },
  b: { kind: 'spread', schema: 'Num', sendsTo: 'c', maxEmits: 5, hasOutput: true, stateWords: 0 },
  c: { kind: 'tally', schema: 'Num', maxEmits: 1, hasOutput: true, stateWords: 4 },
  f: { kind: 'spread', schema: 'Num', maxEmits: 5, hasOutput: true, stateWords: 0 },
  s: { kind: 'counter', schema: 'Num', maxEmits: 0, hasOutput: false, stateWords: 4 },
  p: { kind: 'swap', schema: 'PosId', maxEmits: 1, hasOutput: true, stateWords: 0 },
};

/** A message as scenarios describe it: a Num uses v and id, a PosId x, y (its pos) and id. */
export interface MessageSpec {
  id: number;
  v: number;
  x: number;
  y: number;
  /** absent: the default, 128 */
  priority?: number;
}
export interface WaitSpec {
  timeout?: number;
  /** 'aborted': an already aborted signal; 'live': a signal an `abort` op may abort later */
  signal?: 'aborted' | 'live';
}
export type LifecycleCall = 'activate' | 'deactivate' | 'reactivate';
export type Op =
  | { kind: 'send'; target: KernelId; msg: MessageSpec; wait: WaitSpec }
  | { kind: 'sendMany'; target: KernelId; msgs: MessageSpec[]; wait: WaitSpec }
  /** `padding`: what goes into each message's padding word (PosId only; Num has none) */
  | { kind: 'sendPacked'; target: KernelId; msgs: MessageSpec[]; padding: number[]; wait: WaitSpec }
  | { kind: 'request'; target: KernelId; msg: MessageSpec; wait: WaitSpec }
  | { kind: 'receive'; from: KernelId; wait: WaitSpec }
  | { kind: 'receiveMany'; from: KernelId; max: number; wait: WaitSpec }
  | { kind: 'receivePacked'; from: KernelId; max: number; wait: WaitSpec }
  | { kind: 'lifecycle'; call: LifecycleCall; target: KernelId }
  | { kind: 'terminate'; target: KernelId }
  /** aborts the live signal number `pick` modulo their count (in creation order); none: nothing */
  | { kind: 'abort'; pick: number };
export type Step =
  /** operations issued in one synchronous turn, then everything that can run runs */
  | { kind: 'group'; ops: Op[] }
  | { kind: 'advance'; ms: number }
  | { kind: 'launch'; target: KernelId }
  | { kind: 'writeState'; target: 'c' | 's'; words: number[] };

export interface KernelConfigSpec {
  inputQueueSize: number;
  /** only for a terminal kernel with an output (never with sendsTo) */
  outputQueueSize?: number;
  backpressure: Backpressure;
  maxMessagesPerTick?: number;
}
export interface Scenario {
  configs: Record<KernelId, KernelConfigSpec>;
  /** activated after the initial launch, in this order */
  active: KernelId[];
  steps: Step[];
}

// ------------------------------------------------------------------ the transcript

export type KernelRow = [state: string, processed: number, emitted: number, dropped: number, errors: number, lastError: string | null, inputDepth: number, outputDepth: number];
export interface StepRecord {
  step: string;
  /** `label: outcome` of every call that settled during the step, in issue order */
  settled: string[];
  kernels: Record<string, KernelRow | 'gone'>;
  states: Record<string, number[] | 'gone'>;
}
export interface EndRecord {
  step: 'shutdown';
  settled: string[];
  /** calls that never settled */
  unsettled: string[];
  /** requests still tracked before the shutdown (their messages somewhere), and after it */
  tracked: [beforeShutdown: number, afterShutdown: number];
}
export type Transcript = (StepRecord | EndRecord)[];

/** The label of a call: `<step>.<position in its group>` (steps count from 0), or a final-phase name. */
export const callLabel = (step: number, j: number): string => `${step}.${j}`;

/** How a message is written in a transcript. */
export function describeMessage(schema: SchemaName, m: { v?: number; x?: number; y?: number; id: number }, priority: number, pad = 0): string {
  const body = schema === 'Num' ? `${m.v}` : `(${m.x},${m.y})`;
  return `${body}/${m.id}@${priority}${pad !== 0 ? ` pad=${pad}` : ''}`;
}
export const describeMany = (items: string[]): string => `[${items.join(', ')}]`;

/** The final phase, done the same way by the model and the driver. */
export const DRAIN_FROM: readonly KernelId[] = ['c', 'f', 'p'];
export const MAX_DRAIN_ROUNDS = 20;
export const FINAL_ADVANCE_MS = 100;

// ------------------------------------------------------------------ the model

interface Fields {
  v: number;
  x: number;
  y: number;
  id: number;
}
interface Call {
  n: number;
  label: string;
  done: boolean;
}
interface Request {
  call: Call;
  target: KernelId;
  /** the caller still waits: not answered, not rejected, not given up */
  waiting: boolean;
}
interface Item {
  priority: number;
  fields: Fields;
  request: Request | null;
}
interface Entry extends Item {
  seq: number;
}

/** A bounded priority queue: entries kept most urgent first (priority descending, then arrival). */
class Queue {
  entries: Entry[] = [];
  private nextSeq = 0;
  constructor(readonly capacity: number) {}
  get size(): number {
    return this.entries.length;
  }
  get room(): number {
    return this.capacity - this.entries.length;
  }
  insert(item: Item): void {
    const entry: Entry = { ...item, seq: this.nextSeq++ };
    // after every entry of the same or a higher priority: those all arrived earlier
    let i = this.entries.length;
    while (i > 0 && this.entries[i - 1].priority < entry.priority) i--;
    this.entries.splice(i, 0, entry);
  }
  /** the n most urgent */
  take(n: number): Entry[] {
    return this.entries.splice(0, n);
  }
  /** DROP_OLDEST: the entry that has been queued longest, whatever its priority */
  evictOldest(): Entry {
    let oldest = 0;
    for (let i = 1; i < this.entries.length; i++) if (this.entries[i].seq < this.entries[oldest].seq) oldest = i;
    return this.entries.splice(oldest, 1)[0];
  }
}

interface Putter {
  call: Call;
  /** the messages not yet in the queue */
  items: Item[];
  accepted: number;
  /** the request whose message this is (its outcome is the request's) */
  request: Request | null;
  done: boolean;
}
interface Getter {
  call: Call;
  how: 'one' | 'many' | 'packed';
  max: number;
  done: boolean;
}
interface Controller {
  aborted: boolean;
  listeners: (() => void)[];
}
interface Timer {
  at: number;
  order: number;
  fire: () => void;
}
type LiveState = 'launched' | 'active' | 'deactivated';
interface Kernel {
  id: KernelId;
  shape: KernelShape;
  config: KernelConfigSpec;
  state: LiveState;
  launchSeq: number;
  input: Queue;
  output: Queue | null;
  processed: number;
  emitted: number;
  dropped: number;
  errors: number;
  lastError: string | null;
  putters: Putter[];
  getters: Getter[];
  memory: number[];
}

const ALLOWED: Record<LifecycleCall | 'terminate' | 'send' | 'receive', readonly LiveState[]> = {
  activate: ['launched'],
  deactivate: ['active'],
  reactivate: ['deactivated'],
  terminate: ['launched', 'active', 'deactivated'],
  send: ['launched', 'active', 'deactivated'],
  receive: ['active', 'deactivated'],
};

const u32 = (x: number): number => x >>> 0;

/** The model's own version of each kernel: the outputs (fields, priority as emitted) and a failure code. */
function handle(kind: Kind, m: Entry, memory: number[]): { emits: { fields: Fields; priority: number }[]; failure?: number } {
  const { v, x, y, id } = m.fields;
  const p = m.priority;
  switch (kind) {
    case 'double':
      return { emits: [{ fields: { v: v * 2, x: 0, y: 0, id }, priority: p }] };
    case 'spread': {
      if (v < 0) return { emits: [], failure: -v };
      const n = v & 7;
      const step = (v >> 3) & 3;
      const emits = [];
      for (let c = 0; c < Math.min(n, SHAPES.f.maxEmits); c++) emits.push({ fields: { v: c, x: 0, y: 0, id }, priority: p + c * step * 40 });
      return { emits };
    }
    case 'tally':
      memory[0] = u32(memory[0] + 1);
      memory[1] = u32(memory[1] ^ id);
      memory[3] = Math.max(memory[3], p);
      if ((v & 3) === 3) {
        memory[2] = u32(memory[2] + 1);
        return { emits: [], failure: 3 };
      }
      return { emits: [{ fields: { v: v + 10, x: 0, y: 0, id }, priority: p }] };
    case 'counter':
      memory[0] = u32(memory[0] + 1);
      memory[1] = u32(memory[1] + v);
      memory[2] = Math.max(memory[2], id);
      return { emits: [] };
    case 'swap':
      return { emits: [{ fields: { v: 0, x: y, y: x + 0.5, id }, priority: p }] };
  }
}

export class ReferenceRuntime {
  private readonly kernels = new Map<KernelId, Kernel>();
  private launches = 0;
  /** kernels whose terminate was called in the current turn; its effects come at the end of the turn */
  private readonly terminating = new Map<KernelId, Call | null>();
  private readonly requests = new Set<Request>();
  private readonly controllers: Controller[] = [];
  private timers: Timer[] = [];
  private timerOrder = 0;
  private now = 0;
  private readonly calls: Call[] = [];
  private settledNow: Call[] = [];
  private readonly outcomes = new Map<Call, string>();

  /** an eviction left for the end of the turn (evictions: 'at readback') */
  private evictionPending = false;

  /**
   * `evictions`: when a DROP_OLDEST eviction retires the request whose message it evicted.
   * 'at once' (the CPU backend: the host queue names the evicted message when the send is
   * made); 'at readback' (the GPU backend: its input queues keep no host copy, so the evicted
   * message is known when the tick that carries the send is read back; an abort, a timeout or
   * a terminate issued before that, in the same turn, wins).
   */
  constructor(
    private readonly configs: Record<KernelId, KernelConfigSpec>,
    private readonly evictions: 'at once' | 'at readback' = 'at once',
  ) {}

  // -------------------------------------------------------------- bookkeeping
  private newCall(label: string): Call {
    const call = { n: this.calls.length, label, done: false };
    this.calls.push(call);
    return call;
  }
  private settle(call: Call, outcome: string): void {
    if (call.done) throw new Error(`model: ${call.label} settled twice`);
    call.done = true;
    this.outcomes.set(call, outcome);
    this.settledNow.push(call);
  }
  /** The calls settled since the last look, in issue order. */
  takeSettled(): string[] {
    const list = this.settledNow.sort((x, y) => x.n - y.n).map((c) => `${c.label}: ${this.outcomes.get(c)}`);
    this.settledNow = [];
    return list;
  }
  /** requests whose messages are still somewhere (a caller that gave up leaves its request tracked until then) */
  get trackedRequests(): number {
    return this.requests.size;
  }

  unsettled(): string[] {
    return this.calls.filter((c) => !c.done).map((c) => c.label);
  }
  private arm(ms: number, fire: () => void): void {
    this.timers.push({ at: this.now + ms, order: this.timerOrder++, fire });
  }
  /** The signal of an operation (created when the operation is issued, whatever happens to it). */
  private signalOf(wait: WaitSpec): Controller | null {
    if (wait.signal === 'aborted') return { aborted: true, listeners: [] };
    if (wait.signal === 'live') {
      const c: Controller = { aborted: false, listeners: [] };
      this.controllers.push(c);
      return c;
    }
    return null;
  }

  /** The kernel, if `operation` is allowed now; otherwise the error. */
  private kernelFor(id: KernelId, operation: keyof typeof ALLOWED): Kernel | string {
    const k = this.kernels.get(id);
    if (k === undefined) return `KernelNotFoundError(${id})`;
    if (this.terminating.has(id)) return `KernelStateError(${id},terminating,${operation})`;
    if (!ALLOWED[operation].includes(k.state)) return `KernelStateError(${id},${k.state},${operation})`;
    return k;
  }
  private outputOf(k: Kernel): Queue | null {
    return k.shape.sendsTo !== undefined ? this.kernels.get(k.shape.sendsTo)!.input : k.output;
  }

  // -------------------------------------------------------------- launch
  launch(id: KernelId, label: string): void {
    const call = this.newCall(label);
    const shape = SHAPES[id];
    if (this.kernels.has(id)) return this.settle(call, `KernelAlreadyExistsError(${id})`);
    if (shape.sendsTo !== undefined && !this.kernels.has(shape.sendsTo)) return this.settle(call, `KernelNotFoundError(${shape.sendsTo})`);
    this.create(id);
    this.settle(call, 'ok');
  }
  private create(id: KernelId): void {
    const shape = SHAPES[id];
    const config = this.configs[id];
    this.kernels.set(id, {
      id,
      shape,
      config,
      state: 'launched',
      launchSeq: this.launches++,
      input: new Queue(config.inputQueueSize),
      output: shape.hasOutput && shape.sendsTo === undefined ? new Queue(config.outputQueueSize ?? 4096) : null,
      processed: 0,
      emitted: 0,
      dropped: 0,
      errors: 0,
      lastError: null,
      putters: [],
      getters: [],
      memory: new Array(shape.stateWords).fill(0),
    });
  }
  /** The initial setup: every kernel launched, then `active` activated (nothing recorded). */
  setUp(active: readonly KernelId[]): void {
    for (const id of LAUNCH_ORDER) this.create(id);
    for (const id of active) this.kernels.get(id)!.state = 'active';
  }

  // -------------------------------------------------------------- one turn
  /** Operations issued in one synchronous turn, then the end of the turn, then ticks until nothing can run. */
  group(ops: readonly { op: Op; label: string }[]): void {
    for (const { op, label } of ops) this.apply(op, label);
    this.endOfTurn();
    this.runTicks();
  }

  private apply(op: Op, label: string): void {
    switch (op.kind) {
      case 'send':
        return this.send(op.target, [op.msg], op.wait, label, 'single');
      case 'sendMany':
        return this.send(op.target, op.msgs, op.wait, label, 'many');
      case 'sendPacked':
        // the padding words are not the message's: nothing reads them
        return this.send(op.target, op.msgs, op.wait, label, 'many');
      case 'request':
        return this.request(op.target, op.msg, op.wait, label);
      case 'receive':
        return this.receive(op.from, 'one', 1, op.wait, label);
      case 'receiveMany':
        return this.receive(op.from, 'many', op.max, op.wait, label);
      case 'receivePacked':
        return this.receive(op.from, 'packed', op.max, op.wait, label);
      case 'lifecycle':
        return this.lifecycle(op.call, op.target, label);
      case 'terminate':
        return this.terminate(op.target, label);
      case 'abort':
        return this.abort(op.pick);
    }
  }

  private itemOf(id: KernelId, m: MessageSpec, request: Request | null): Item {
    const fields: Fields = SHAPES[id].schema === 'Num' ? { v: m.v, x: 0, y: 0, id: m.id } : { v: 0, x: m.x, y: m.y, id: m.id };
    return { priority: m.priority ?? 128, fields, request };
  }

  // -------------------------------------------------------------- sends
  private send(id: KernelId, msgs: readonly MessageSpec[], wait: WaitSpec, label: string, how: 'single' | 'many'): void {
    const call = this.newCall(label);
    const signal = this.signalOf(wait);
    const k = this.kernelFor(id, 'send');
    if (typeof k === 'string') return this.settle(call, k);
    if (signal?.aborted) return this.settle(call, 'AbortError');
    this.put(k, call, msgs.map((m) => this.itemOf(id, m, null)), wait, signal, null, how);
  }

  /**
   * Into the input queue, as put (one message) or putMany: while there is room; when full,
   * drop evicts the oldest, reject refuses (putMany: all or nothing, checked first), block waits.
   */
  private put(k: Kernel, call: Call, items: Item[], wait: WaitSpec, signal: Controller | null, request: Request | null, how: 'single' | 'many'): void {
    const q = k.input;
    const bp = k.config.backpressure;
    if (bp === 'reject' && q.room < items.length) return this.failPut(call, request, 'QueueFullError(0)');
    let i = 0;
    let evicted = false;
    for (; i < items.length; i++) {
      if (q.room > 0) q.insert(items[i]);
      else if (bp === 'drop') {
        q.evictOldest();
        k.dropped++;
        evicted = true;
        q.insert(items[i]);
      } else break;
    }
    if (evicted) {
      if (this.evictions === 'at once') this.retireRequests();
      else this.evictionPending = true;
    }
    if (i === items.length) {
      if (request === null) this.settle(call, 'ok');
      return;
    }
    // block: the rest waits for room
    if (wait.timeout === 0) return this.failPut(call, request, `QueueFullError(${how === 'single' ? 0 : i})`);
    const putter: Putter = { call, items: items.slice(i), accepted: i, request, done: false };
    k.putters.push(putter);
    const giveUp = (error: string) => {
      if (putter.done) return;
      putter.done = true;
      k.putters.splice(k.putters.indexOf(putter), 1);
      this.failPut(call, request, error);
    };
    if (wait.timeout !== undefined) this.arm(wait.timeout, () => giveUp(`QueueFullError(${putter.accepted})`));
    signal?.listeners.push(() => giveUp('AbortError'));
  }

  /** A send failed: its caller gets the error (a request's: if it still waits). */
  private failPut(call: Call, request: Request | null, error: string): void {
    if (request === null) return this.settle(call, error);
    this.requests.delete(request);
    if (request.waiting) {
      request.waiting = false;
      this.settle(call, error);
    }
  }

  /** Blocked senders in FIFO order, while there is room (a batch goes in as far as it fits). */
  private admitPutters(k: Kernel): void {
    while (k.putters.length > 0) {
      const p = k.putters[0];
      while (p.items.length > 0 && k.input.room > 0) {
        k.input.insert(p.items.shift()!);
        p.accepted++;
      }
      if (p.items.length > 0) return;
      k.putters.shift();
      p.done = true;
      if (p.request === null) this.settle(p.call, 'ok');
    }
  }

  // -------------------------------------------------------------- requests
  private request(id: KernelId, m: MessageSpec, wait: WaitSpec, label: string): void {
    const call = this.newCall(label);
    const signal = this.signalOf(wait);
    const k = this.kernelFor(id, 'send');
    if (typeof k === 'string') return this.settle(call, k);
    if (signal?.aborted) return this.settle(call, 'AbortError');
    const request: Request = { call, target: id, waiting: true };
    this.requests.add(request);
    // the timeout and the signal cover the whole request; the send's own wait comes after them
    const giveUp = (error: string) => {
      if (!request.waiting) return;
      request.waiting = false;
      this.settle(call, error);
    };
    if (wait.timeout !== undefined) this.arm(wait.timeout, () => giveUp('TimeoutError'));
    signal?.listeners.push(() => giveUp('AbortError'));
    this.put(k, call, [this.itemOf(id, m, request)], wait, signal, request, 'single');
  }

  /** Whether any message of the request is still somewhere it can be processed. */
  private live(r: Request): boolean {
    for (const k of this.kernels.values()) {
      if (k.input.entries.some((e) => e.request === r)) return true;
      if (k.putters.some((p) => p.items.some((i) => i.request === r))) return true;
    }
    return false;
  }
  /** A request whose caller waits and that has no message left can have no reply: NoReplyError. */
  private retireRequests(): void {
    for (const r of this.requests) {
      if (this.live(r)) continue;
      this.requests.delete(r);
      if (r.waiting) {
        r.waiting = false;
        this.settle(r.call, `NoReplyError(${r.target})`);
      }
    }
  }

  // -------------------------------------------------------------- receives
  private receive(id: KernelId, how: Getter['how'], max: number, wait: WaitSpec, label: string): void {
    const call = this.newCall(label);
    const signal = this.signalOf(wait);
    const k = this.kernelFor(id, 'receive');
    if (typeof k === 'string') return this.settle(call, k);
    if (k.output === null) return this.settle(call, `KernelRouteError(${id})`);
    if (signal?.aborted) return this.settle(call, 'AbortError');
    const getter: Getter = { call, how, max, done: false };
    if (k.output.size > 0) return this.serve(k, getter);
    if (wait.timeout === 0) return this.settle(call, 'TimeoutError');
    k.getters.push(getter);
    const giveUp = (error: string) => {
      if (getter.done) return;
      getter.done = true;
      k.getters.splice(k.getters.indexOf(getter), 1);
      this.settle(call, error);
    };
    if (wait.timeout !== undefined) this.arm(wait.timeout, () => giveUp('TimeoutError'));
    signal?.listeners.push(() => giveUp('AbortError'));
  }
  private serve(k: Kernel, g: Getter): void {
    g.done = true;
    const out = k.output!;
    const taken = out.take(g.how === 'one' ? 1 : Math.min(g.max, out.size));
    const texts = taken.map((e) => describeMessage(k.shape.schema, e.fields, e.priority));
    this.settle(g.call, g.how === 'one' ? `ok ${texts[0]}` : g.how === 'many' ? `ok ${describeMany(texts)}` : `ok packed ${describeMany(texts)}`);
  }
  /** Waiting receivers, oldest first, while there is something to take. */
  private serveGetters(k: Kernel): void {
    while (k.output !== null && k.output.size > 0 && k.getters.length > 0) this.serve(k, k.getters.shift()!);
  }

  // -------------------------------------------------------------- lifecycle
  private lifecycle(call: LifecycleCall, id: KernelId, label: string): void {
    const c = this.newCall(label);
    const k = this.kernelFor(id, call);
    if (typeof k === 'string') return this.settle(c, k);
    k.state = call === 'deactivate' ? 'deactivated' : 'active';
    this.settle(c, 'ok');
  }

  private terminate(id: KernelId, label: string): void {
    const call = this.newCall(label);
    const k = this.kernelFor(id, 'terminate');
    if (typeof k === 'string') return this.settle(call, k);
    // refused while another kernel (even one being terminated) sends to it
    if ([...this.kernels.values()].some((u) => u.shape.sendsTo === id)) return this.settle(call, `KernelStateError(${id},${k.state},terminate)`);
    this.terminating.set(id, call);
  }

  /** The effects of this turn's terminate calls, in order. */
  private endOfTurn(): void {
    // (a terminate first carries out the sends recorded before it: their evictions come first)
    if (this.evictionPending) {
      this.evictionPending = false;
      this.retireRequests();
    }
    for (const [id, call] of [...this.terminating]) {
      this.terminating.delete(id);
      this.discard(this.kernels.get(id)!);
      if (call !== null) this.settle(call, 'ok');
    }
  }

  /** A kernel goes away: its waiters reject, its messages are discarded, and so are requests left with none. */
  private discard(k: Kernel): void {
    const sendGone = `KernelStateError(${k.id},terminated,send)`;
    for (const p of k.putters.splice(0)) {
      p.done = true;
      this.failPut(p.call, p.request, sendGone);
    }
    for (const g of k.getters.splice(0)) {
      g.done = true;
      this.settle(g.call, `KernelStateError(${k.id},terminated,receive)`);
    }
    const hit = new Set(k.input.entries.map((e) => e.request).filter((r): r is Request => r !== null));
    this.kernels.delete(k.id);
    for (const r of hit) {
      if (this.live(r)) continue;
      this.requests.delete(r);
      if (r.waiting) {
        r.waiting = false;
        this.settle(r.call, sendGone);
      }
    }
  }

  private abort(pick: number): void {
    if (this.controllers.length === 0) return;
    const c = this.controllers[pick % this.controllers.length];
    if (c.aborted) return;
    c.aborted = true;
    for (const listener of c.listeners) listener();
  }

  // -------------------------------------------------------------- ticks
  /** Each kernel after every kernel that sends to it; launch order among equals. */
  private tickOrder(): Kernel[] {
    const depth = (k: Kernel): number => {
      let d = 0;
      for (const u of this.kernels.values()) if (u.shape.sendsTo === k.id) d = Math.max(d, depth(u) + 1);
      return d;
    };
    return [...this.kernels.values()].sort((x, y) => depth(x) - depth(y) || x.launchSeq - y.launchSeq);
  }

  private runTicks(): void {
    for (let i = 0; this.tick(); i++) if (i > 100_000) throw new Error('model: ticks never end');
  }

  /** One tick; false when no kernel could take anything. */
  private tick(): boolean {
    const ran: { k: Kernel; replies: Item[] }[] = [];
    for (const k of this.tickOrder()) {
      if (k.state !== 'active' || this.terminating.has(k.id)) continue;
      const out = this.outputOf(k);
      const room = k.shape.maxEmits === 0 ? Infinity : Math.floor(out!.room / k.shape.maxEmits);
      const n = Math.min(k.input.size, k.config.maxMessagesPerTick ?? 65536, room);
      if (n <= 0) continue;
      const outputs: Item[] = [];
      for (const m of k.input.take(n)) {
        const r = handle(k.shape.kind, m, k.memory);
        k.processed++;
        if (r.failure !== undefined) {
          k.errors++;
          k.lastError = `failed with code ${r.failure}`;
        }
        for (const e of r.emits) outputs.push({ fields: e.fields, priority: Math.min(255, e.priority), request: m.request });
      }
      k.emitted += outputs.length;
      const replies: Item[] = [];
      for (const o of outputs) {
        // at the end of a chain, an output of a request is a reply
        if (k.shape.sendsTo === undefined && o.request !== null) replies.push(o);
        else out!.insert(o);
      }
      ran.push({ k, replies });
    }
    if (ran.length === 0) return false;
    for (const { k } of ran) {
      this.serveGetters(k);
      this.admitPutters(k);
    }
    for (const { k, replies } of ran) {
      const toReceive: Item[] = [];
      for (const r of replies) {
        const request = r.request!;
        if (request.waiting) {
          request.waiting = false;
          this.settle(request.call, `ok ${describeMessage(k.shape.schema, r.fields, r.priority)}`);
        } else toReceive.push(r);
      }
      // after the tick's other outputs, as if put one by one
      for (const r of toReceive) {
        k.output!.insert({ ...r, request: null });
        this.serveGetters(k);
      }
    }
    this.retireRequests();
    return true;
  }

  // -------------------------------------------------------------- the other steps
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= until).sort((x, y) => x.at - y.at || x.order - y.order);
      if (due.length === 0) break;
      const t = due[0];
      this.timers.splice(this.timers.indexOf(t), 1);
      this.now = t.at;
      t.fire();
    }
    this.now = until;
    this.runTicks();
  }

  writeState(id: 'c' | 's', words: readonly number[], label: string): void {
    const call = this.newCall(label);
    const k = this.kernels.get(id);
    if (k === undefined) return this.settle(call, `KernelNotFoundError(${id})`);
    k.memory = words.map(u32);
    this.settle(call, 'ok');
  }

  /** Activates every kernel that is not active (one turn), then runs what can run. */
  activateAll(): void {
    for (const k of this.kernels.values()) k.state = 'active';
    this.runTicks();
  }
  /** One drain round: receiveMany(1000, timeout 0) from each kernel of DRAIN_FROM that exists, in one turn. */
  drain(round: number): boolean {
    const ops = DRAIN_FROM.filter((id) => this.kernels.has(id)).map((id) => ({ op: { kind: 'receiveMany', from: id, max: 1000, wait: { timeout: 0 } } as Op, label: `drain${round}.${id}` }));
    const before = this.calls.length;
    this.group(ops);
    return this.calls.slice(before).some((c) => this.outcomes.get(c)?.startsWith('ok'));
  }
  /** Terminates every kernel, upstream first. */
  shutdown(): void {
    for (const k of this.tickOrder()) this.discard(k);
  }

  snapshot(label: string): StepRecord {
    const kernels: StepRecord['kernels'] = {};
    for (const id of LAUNCH_ORDER) {
      const k = this.kernels.get(id);
      if (k === undefined) {
        kernels[id] = 'gone';
        continue;
      }
      const outputDepth = k.shape.sendsTo !== undefined ? this.kernels.get(k.shape.sendsTo)!.input.size : (k.output?.size ?? 0);
      kernels[id] = [k.state, k.processed, k.emitted, k.dropped, k.errors, k.lastError, k.input.size, outputDepth];
    }
    const states: StepRecord['states'] = {};
    for (const id of STATEFUL) states[id] = this.kernels.get(id)?.memory.slice() ?? 'gone';
    return { step: label, settled: this.takeSettled(), kernels, states };
  }
}

/** The model's transcript of a scenario (the driver produces the real one in the same shape). */
export function simulate(s: Scenario, evictions: 'at once' | 'at readback' = 'at once'): Transcript {
  const m = new ReferenceRuntime(s.configs, evictions);
  const out: Transcript = [];
  m.setUp(s.active);
  s.steps.forEach((step, i) => {
    switch (step.kind) {
      case 'group':
        m.group(step.ops.map((op, j) => ({ op, label: callLabel(i, j) })));
        break;
      case 'advance':
        m.advance(step.ms);
        break;
      case 'launch':
        m.launch(step.target, callLabel(i, 0));
        break;
      case 'writeState':
        m.writeState(step.target, step.words, callLabel(i, 0));
        break;
    }
    out.push(m.snapshot(`${i} ${step.kind}`));
  });
  m.activateAll();
  out.push(m.snapshot('end: all active'));
  for (let round = 1; round <= MAX_DRAIN_ROUNDS; round++) {
    const took = m.drain(round);
    out.push(m.snapshot(`end: drain ${round}`));
    if (!took) break;
  }
  m.advance(FINAL_ADVANCE_MS);
  out.push(m.snapshot('end: advance'));
  const tracked = m.trackedRequests;
  m.shutdown();
  out.push({ step: 'shutdown', settled: m.takeSettled(), unsettled: m.unsettled(), tracked: [tracked, m.trackedRequests] });
  return out;
}
