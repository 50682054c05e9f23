/**
 * A kernel's lifecycle states (which operations each allows: kernels.ts, checkTransition).
 *
 *   launch ──> LAUNCHED ──activate──> ACTIVE ──deactivate──> DEACTIVATED
 *   (CREATED while launching)           ^                        │
 *                                       └──────reactivate────────┘
 *   terminate: any state ──> TERMINATING ──> TERMINATED (the kernel is gone)
 */
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
