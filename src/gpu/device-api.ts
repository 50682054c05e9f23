/**
 * The device-side API as WGSL text: functions a compute shader of yours includes to try-pop /
 * try-push on GpuMessageQueues inside its own dispatch (see shaders/device-api.wgsl for the
 * bindings and the visibility rule). One queue: `deviceApiWgsl(schema, group)` gives
 * `rk_try_pop` / `rk_try_push`. Several queues in one shader: `deviceApiWgsl([{ schema, group,
 * prefix }, ...])`, each queue with its own bind group and name prefix (`in_try_pop`,
 * `out_try_push`, ...); each schema's struct and the shared constants are emitted once.
 */
import template from '../../shaders/device-api.wgsl';
import type { MessageSchema } from '../schema/define-message.js';
import { deviceApiConstants } from './layout.js';

/** The raw per-queue template (placeholders {{p}}, {{group}}, {{msg}}, {{words}}, {{store}}). */
export const DEVICE_API_WGSL: string = template;

/** One queue of a shader that uses the device-side API. */
export interface DeviceQueueBinding {
  schema: MessageSchema<any>;
  /** Bind group index the queue's bind group is set at (0..3). */
  group: number;
  /** Prefix of the queue's WGSL names: `in_` gives in_try_pop, in_try_push, in_ctl, ... Default `rk_`. */
  prefix?: string;
}

const PREFIX = /^[A-Za-z][A-Za-z0-9_]*$/;

/** WGSL stores of message `m`'s fields into the inbox record at `base` (after its priority word). */
function storeFields(schema: MessageSchema<any>, inbox: string): string {
  const stores: string[] = [];
  for (const f of schema.fields) {
    const o = f.offset / 4;
    if (f.components === 1 && !f.array) stores.push(`${inbox}[base + ${1 + o}u] = bitcast<u32>(m.${f.name});`);
    else for (let c = 0; c < f.components; c++) stores.push(`${inbox}[base + ${1 + o + c}u] = bitcast<u32>(m.${f.name}[${c}]);`);
  }
  return stores.join('\n  ');
}

/** The WGSL to prepend to a kernel: the schemas' structs, the constants, and per queue its bindings, try_pop and try_push. */
export function deviceApiWgsl(schema: MessageSchema<any>, group?: number): string;
export function deviceApiWgsl(queues: readonly DeviceQueueBinding[]): string;
export function deviceApiWgsl(schemaOrQueues: MessageSchema<any> | readonly DeviceQueueBinding[], group = 1): string {
  const queues: readonly DeviceQueueBinding[] = Array.isArray(schemaOrQueues)
    ? schemaOrQueues
    : [{ schema: schemaOrQueues as MessageSchema<any>, group, prefix: 'rk_' }];
  if (queues.length === 0) throw new RangeError('deviceApiWgsl needs at least one queue');
  const structs = new Map<string, MessageSchema<any>>();
  const prefixes = new Set<string>();
  const used = new Set<number>();
  const parts: string[] = [];
  for (const q of queues) {
    const { schema, group: g } = q;
    const prefix = q.prefix ?? 'rk_';
    if (!Number.isInteger(g) || g < 0 || g > 3) throw new RangeError(`group must be an integer 0..3, got ${String(g)}`);
    if (used.has(g)) throw new RangeError(`two queues at bind group ${g}: each queue needs its own group`);
    if (typeof prefix !== 'string' || !PREFIX.test(prefix)) throw new TypeError(`prefix must start a WGSL identifier (a letter, then letters, digits, _), got ${String(prefix)}`);
    if (prefixes.has(prefix)) throw new RangeError(`two queues with the prefix '${prefix}': each queue needs its own`);
    const known = structs.get(schema.name);
    if (known !== undefined && known !== schema && known.wgsl !== schema.wgsl) {
      throw new TypeError(`two different schemas are both named '${schema.name}': give them different names`);
    }
    structs.set(schema.name, schema);
    used.add(g);
    prefixes.add(prefix);
    parts.push(
      template
        .replaceAll('{{p}}', prefix)
        .replaceAll('{{group}}', String(g))
        .replaceAll('{{msg}}', schema.name)
        .replaceAll('{{words}}', String(schema.words))
        .replaceAll('{{store}}', storeFields(schema, `${prefix}inbox`)),
    );
  }
  return [...[...structs.values()].map((s) => s.wgsl), deviceApiConstants(), ...parts].join('\n');
}
