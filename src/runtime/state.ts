/**
 * A kernel's lifecycle: the states and which operations each allows.
 *
 *   launch ──> LAUNCHED ──activate──> ACTIVE ──deactivate──> DEACTIVATED
 *   (CREATED while launching)           ^                        │
 *                                       └──────reactivate────────┘
 *   terminate: any state ──> TERMINATING ──> TERMINATED (the kernel is gone)
 */
import { KernelStateError, type KernelOperation } from './errors.js';

export const KernelState = {
  CREATED: 'created',
  LAUNCHED: 'launched',
  ACTIVE: 'active',
  DEACTIVATED: 'deactivated',
  TERMINATING: 'terminating',
  TERMINATED: 'terminated',
} as const;
export type KernelStateValue = (typeof KernelState)[keyof typeof KernelState];
export type KernelState = KernelStateValue;

/** The states each operation is allowed in. */
const ALLOWED: Record<Exclude<KernelOperation, 'launch'>, readonly KernelStateValue[]> = {
  activate: [KernelState.LAUNCHED],
  deactivate: [KernelState.ACTIVE],
  reactivate: [KernelState.DEACTIVATED],
  terminate: [KernelState.CREATED, KernelState.LAUNCHED, KernelState.ACTIVE, KernelState.DEACTIVATED],
  send: [KernelState.LAUNCHED, KernelState.ACTIVE, KernelState.DEACTIVATED],
  receive: [KernelState.ACTIVE, KernelState.DEACTIVATED],
};

/** Throws KernelStateError unless `operation` is allowed in `state`. */
export function checkTransition(kernelId: string, state: KernelStateValue, operation: Exclude<KernelOperation, 'launch'>): void {
  if (!ALLOWED[operation].includes(state)) throw new KernelStateError(kernelId, state, operation);
}
