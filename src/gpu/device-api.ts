/**
 * The device-side API as WGSL text: functions another compute shader includes to try-pop /
 * try-push on a GpuMessageQueue inside its own dispatch (see shaders/device-api.wgsl for the
 * bindings and the visibility rule).
 */
import template from '../../shaders/device-api.wgsl';
import type { MessageSchema } from '../schema/define-message.js';

/** The raw template (placeholders RK_GROUP, RK_MSG, RK_WORDS_VALUE, RK_STORE_FIELDS). */
export const DEVICE_API_WGSL: string = template;

/** The WGSL to prepend to a kernel: the schema's struct, the queue bindings at `@group(group)`, rk_try_pop and rk_try_push. */
export function deviceApiWgsl(schema: MessageSchema<any>, group = 1): string {
  if (!Number.isInteger(group) || group < 0 || group > 3) throw new RangeError('group must be an integer 0..3');
  const stores: string[] = [];
  for (const f of schema.fields) {
    const o = f.offset / 4;
    if (f.components === 1) stores.push(`rk_inbox[base + ${1 + o}u] = bitcast<u32>(m.${f.name});`);
    else for (let c = 0; c < f.components; c++) stores.push(`rk_inbox[base + ${1 + o + c}u] = bitcast<u32>(m.${f.name}[${c}]);`);
  }
  return (
    schema.wgsl +
    '\n' +
    template
      .replaceAll('RK_GROUP', String(group))
      .replaceAll('RK_MSG', schema.name)
      .replaceAll('RK_WORDS_VALUE', `${schema.words}u`)
      .replace('RK_STORE_FIELDS', stores.join('\n  '))
  );
}
