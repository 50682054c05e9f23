/**
 * The GPU queue configurations the shared suites (contract, model, stress) run against:
 *   - opaque and schema payloads as users get them by default;
 *   - and, with `verify: true` (every answer the host gives from its own copies checked against
 *     the device, which fails the queue closed on any disagreement): opaque, schema, and
 *     `prefetch: 0`, where the host keeps no copy of the head and every get, getMany,
 *     getNowait and peek is answered by the device.
 */
import { GpuMessageQueue, type GpuQueueOptions, type Queue, type QueueOptions } from 'ringkernel';
import type { Msg } from './helpers.js';
import { SchemaAdapter } from './gpu-schema-adapter.js';

export interface GpuConfig {
  name: string;
  make: (options: QueueOptions<Msg>) => Promise<Queue<Msg> & { close(): void | Promise<void>; flush(): Promise<void> }>;
  verify: boolean;
}

const opaque = (extra: Partial<GpuQueueOptions<Msg>>) => (options: QueueOptions<Msg>) => GpuMessageQueue.create<Msg>({ ...options, ...extra });
const schema = (extra: { prefetch?: number; verify?: boolean }) => (options: QueueOptions<Msg>) => SchemaAdapter.create(options, extra);

export const DEFAULT_CONFIGS: readonly GpuConfig[] = [
  { name: 'opaque payloads', make: opaque({}), verify: false },
  { name: 'schema payloads', make: schema({}), verify: false },
];

export const VERIFIED_CONFIGS: readonly GpuConfig[] = [
  { name: 'opaque payloads, verified', make: opaque({ verify: true }), verify: true },
  { name: 'schema payloads, verified', make: schema({ verify: true }), verify: true },
  { name: 'prefetch 0 (device-answered), verified', make: schema({ prefetch: 0, verify: true }), verify: true },
];

export const ALL_CONFIGS: readonly GpuConfig[] = [...DEFAULT_CONFIGS, ...VERIFIED_CONFIGS];

export const flushOf = async (q: Queue<Msg>): Promise<void> => {
  await (q as unknown as { flush(): Promise<void> }).flush();
};
