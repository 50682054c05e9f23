/**
 * ringkernel: priority message queues with one exact contract, on the CPU and on the GPU.
 */
export { BackpressureStrategy, DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY } from './queue/contract.js';
export type { Queue, QueueOptions, QueueStats, WaitOptions, Prioritized } from './queue/contract.js';
export { QueueClosedError, QueueFullError, QueueTimeoutError } from './queue/errors.js';
export { message, checkPriority, priorityOf } from './queue/message.js';
export type { Message, MessageMeta } from './queue/message.js';
export { MessageQueue } from './queue/message-queue.js';
// GPU
export { GpuMessageQueue } from './gpu/gpu-queue.js';
export type { GpuQueueOptions, PackedBatch } from './gpu/gpu-queue.js';
export { GpuUnavailableError, DeviceLostError, GpuQueueError } from './gpu/errors.js';
export { acquireDevice, requestAdapter, describeAdapter, sharedDevice } from './gpu/device.js';
export type { AdapterReport, AcquiredDevice } from './gpu/device.js';
export { defineMessage } from './schema/define-message.js';
export type { MessageSchema, FieldType, MessageOf } from './schema/define-message.js';
export { deviceApiWgsl, DEVICE_API_WGSL } from './gpu/device-api.js';
