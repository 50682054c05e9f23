/** Errors of the ring kernel runtime. */
import type { KernelStateValue } from './state.js';

/** What was attempted on a kernel, as KernelStateError reports it. */
export type KernelOperation = 'launch' | 'activate' | 'deactivate' | 'reactivate' | 'terminate' | 'send' | 'receive';

/** An operation the kernel's lifecycle state does not allow (or a terminate refused while another kernel sends to it). */
export class KernelStateError extends Error {
  override name = 'KernelStateError';
  readonly kernelId: string;
  /** the kernel's state when the operation was refused */
  readonly state: KernelStateValue;
  readonly operation: KernelOperation;
  constructor(kernelId: string, state: KernelStateValue, operation: KernelOperation, detail?: string) {
    super(`Cannot ${operation} kernel '${kernelId}' from state '${state}'${detail ? `: ${detail}` : ''}`);
    this.kernelId = kernelId;
    this.state = state;
    this.operation = operation;
  }
}

/** No kernel with this id (never launched, or terminated). */
export class KernelNotFoundError extends Error {
  override name = 'KernelNotFoundError';
  readonly kernelId: string;
  constructor(kernelId: string, detail = '') {
    super(`No kernel '${kernelId}'${detail}`);
    this.kernelId = kernelId;
  }
}

/** `launch` with an id that is already in use. */
export class KernelAlreadyExistsError extends Error {
  override name = 'KernelAlreadyExistsError';
  readonly kernelId: string;
  constructor(kernelId: string) {
    super(`A kernel '${kernelId}' already exists`);
    this.kernelId = kernelId;
  }
}

/** A kernel's WGSL does not compile: the compiler's messages, with lines in the kernel's own `wgsl` text. */
export class KernelCompileError extends Error {
  override name = 'KernelCompileError';
  readonly kernelId: string;
  /** 1-based line in the kernel's `wgsl` of the first error (0 when the error is in code ringkernel generated around it) */
  readonly line: number;
  readonly column: number;
  constructor(kernelId: string, message: string, line: number, column: number) {
    super(message);
    this.kernelId = kernelId;
    this.line = line;
    this.column = column;
  }
}

/** A request whose message was processed (or dropped) and can produce no reply. Not a timeout. */
export class NoReplyError extends Error {
  override name = 'NoReplyError';
  /** the kernel the request was sent to */
  readonly kernelId: string;
  /** the kernel of its chain that consumed (or dropped, or held) its last message */
  readonly stage: string;
  /** that kernel's failure for the message ('failed with code 7', 'threw …'), or null when its handler emitted nothing without failing */
  readonly failure: string | null;
  constructor(kernelId: string, reason: string, stage: string = kernelId, failure: string | null = null) {
    super(`sendAndReceive('${kernelId}'): ${reason}`);
    this.kernelId = kernelId;
    this.stage = stage;
    this.failure = failure;
  }
}

/** A receive on a kernel whose outputs do not stay with it: a sink, or one that sends them to another kernel (sendsTo). */
export class KernelRouteError extends Error {
  override name = 'KernelRouteError';
  readonly kernelId: string;
  constructor(kernelId: string, message: string) {
    super(message);
    this.kernelId = kernelId;
  }
}

/** Why a kernel holds messages it cannot process: it is not active, or its outputs have no room. */
export type StallReason = 'not-active' | 'deactivated' | 'output-full';

/** `drain()` found a kernel that holds messages nothing more will process until someone acts. */
export class KernelStalledError extends Error {
  override name = 'KernelStalledError';
  readonly kernelId: string;
  readonly reason: StallReason;
  /** messages waiting in its input queue (and senders waiting for room in it: `blockedSends`) */
  readonly waiting: number;
  readonly blockedSends: boolean;
  constructor(kernelId: string, reason: StallReason, waiting: number, blockedSends: boolean, message: string) {
    super(message);
    this.kernelId = kernelId;
    this.reason = reason;
    this.waiting = waiting;
    this.blockedSends = blockedSends;
  }
}
