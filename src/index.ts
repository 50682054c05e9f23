/**
 * ringkernel: priority message queues with one exact contract, on the CPU and on the GPU, and
 * ring kernels on WebGPU.
 *
 * The public API reaches WebGPU's types (GPUDevice, GPUBindGroup, ...): they come from
 * @webgpu/types, a dependency of this package.
 */
/// <reference types="@webgpu/types" preserve="true" />
export { BackpressureStrategy, DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY } from './queue/contract.js';
export type { Queue, QueueOptions, QueueStats, WaitOptions, Prioritized } from './queue/contract.js';
export { QueueClosedError, QueueFullError, QueueTimeoutError } from './queue/errors.js';
export { message, checkPriority, priorityOf } from './queue/message.js';
export type { Message, MessageMeta } from './queue/message.js';
export { MessageQueue } from './queue/message-queue.js';
// schemas
export { defineMessage, MAX_ARRAY_LENGTH } from './schema/define-message.js';
export type { MessageSchema, FieldType, FieldValue, MessageOf, FieldLayout, ScalarType } from './schema/define-message.js';
// the device layer
export { GpuUnavailableError, DeviceLostError, GpuQueueError, GpuOutOfMemoryError } from './device/errors.js';
export { acquireDevice, requestAdapter, describeAdapter, sharedDevice } from './device/acquire.js';
export type { AdapterReport, AcquiredDevice } from './device/acquire.js';
export { profileSubmissions, MAX_TIMED_DISPATCHES } from './device/profile.js';
export type { SubmissionTiming, DispatchTiming, SubmissionListener } from './device/profile.js';
// the GPU queue
export { GpuMessageQueue } from './gpu/gpu-queue.js';
export type { GpuQueueOptions, PackedBatch } from './gpu/gpu-queue.js';
export { runDeviceKernel } from './gpu/device-kernel.js';
export type { DeviceKernelOptions, DeviceKernelResult } from './gpu/device-kernel.js';
export { deviceApiWgsl, DEVICE_API_WGSL } from './gpu/device-api.js';
export type { DeviceQueueBinding } from './gpu/device-api.js';
// ring kernels
export { RingKernelRuntime, DEFAULT_TICKS_IN_FLIGHT } from './runtime/runtime.js';
export type { RuntimeOptions, LaunchConfig, Output, Input, AnyFields, TickTiming } from './runtime/runtime.js';
export { KernelHandle } from './runtime/handle.js';
export type { HandleOf } from './runtime/handle.js';
export { compareBackends } from './runtime/compare.js';
export type { CompareOptions, CompareResult } from './runtime/compare.js';
export { defineRingKernel } from './runtime/kernel.js';
export type { RingKernelDefinition, RingKernelSpec, KernelContext, KernelStateSpec, KernelStateLayout } from './runtime/kernel.js';
export { KernelState } from './runtime/state.js';
export { KernelStateError, KernelNotFoundError, KernelAlreadyExistsError, KernelCompileError, KernelRouteError, KernelStalledError, NoReplyError } from './runtime/errors.js';
export type { KernelOperation, StallReason } from './runtime/errors.js';
export type { KernelTelemetry, RuntimeSummary, TickLatency } from './runtime/telemetry.js';
