/**
 * The WGSL of one ring kernel's handler: shaders/ring-handler.wgsl around the kernel's own
 * `fn handle(msg, priority)`, with its schemas' structs, their envelopes, rk_emit for its
 * output schema, and the constants of its work buffer's layout.
 */
import template from '../../../shaders/ring-handler.wgsl';
import { deviceApiConstants } from '../../gpu/layout.js';
import type { MessageSchema } from '../../schema/define-message.js';
import { tagWord, type RingKernelDefinition } from '../kernel.js';
import { EVENT_WORDS, kernelLayoutWgsl } from './kernel-layout.js';

/** Where things are in a kernel's work buffer (words). */
export interface WorkLayout {
  /** emit record positions: maxMessagesPerTick * maxEmits */
  positions: number;
  /** words per emit record: 1 + the output envelope's words (1 for a sink: nothing is written) */
  recordWords: number;
  failOff: number;
  eventOff: number;
  eventCap: number;
  words: number;
}

export function workLayout(def: RingKernelDefinition, maxPerTick: number): WorkLayout {
  const positions = maxPerTick * def.maxEmits;
  const recordWords = 1 + (def.outputEnvelope?.words ?? 0);
  const failOff = positions * recordWords;
  const eventOff = failOff + maxPerTick;
  const eventCap = maxPerTick;
  return { positions, recordWords, failOff, eventOff, eventCap, words: eventOff + EVENT_WORDS * eventCap };
}

/** Vectors and short arrays are moved element by element; longer arrays by a loop, so the code does not grow with their length. */
const UNROLLED_COMPONENTS = 4;

const WGSL_SCALAR = { u32: 'u32', i32: 'i32', f32: 'f32' } as const;

/** Statements that fill `var rk_msg` from the envelope words at `rk_in_pool[rk_at ..]`. */
function loadMessage(schema: MessageSchema<any>): string {
  const lines: string[] = [];
  for (const f of schema.fields) {
    const o = f.offset / 4;
    const t = WGSL_SCALAR[f.scalar];
    const word = (i: string) => `bitcast<${t}>(rk_in_pool[rk_at + ${i}])`;
    if (!f.array && f.components === 1) lines.push(`rk_msg.${f.name} = ${word(`${o}u`)};`);
    else if (f.components <= UNROLLED_COMPONENTS) for (let c = 0; c < f.components; c++) lines.push(`rk_msg.${f.name}[${c}] = ${word(`${o + c}u`)};`);
    else lines.push(`for (var rk_c = 0u; rk_c < ${f.components}u; rk_c++) { rk_msg.${f.name}[rk_c] = ${word(`${o}u + rk_c`)}; }`);
  }
  return lines.join('\n  ');
}

function emitFunction(output: MessageSchema<any>, envelope: MessageSchema<any>): string {
  const stores: string[] = [];
  for (const f of output.fields) {
    const o = 1 + f.offset / 4;
    if (!f.array && f.components === 1) stores.push(`rk_work[rk_base + ${o}u] = bitcast<u32>(rk_o.${f.name});`);
    else if (f.components <= UNROLLED_COMPONENTS) for (let c = 0; c < f.components; c++) stores.push(`rk_work[rk_base + ${o + c}u] = bitcast<u32>(rk_o.${f.name}[${c}]);`);
    else stores.push(`for (var rk_c = 0u; rk_c < ${f.components}u; rk_c++) { rk_work[rk_base + ${o}u + rk_c] = bitcast<u32>(rk_o.${f.name}[rk_c]); }`);
  }
  const tag = tagWord(envelope);
  return `
// Emits an output with the tag of the message being handled; false once RK_MAX_EMITS were
// emitted for it. A priority above 255 counts as 255.
fn rk_emit(rk_out: ${output.name}, rk_priority: u32) -> bool {
  if (rk_emits >= RK_MAX_EMITS) { return false; }
  let rk_base = (rk_j * RK_MAX_EMITS + rk_emits) * RK_S_OUT;
  var rk_o = rk_out; // (a variable: a loop indexes memory, not a value)
  let rk_p = min(rk_priority, 255u);
  rk_work[rk_base] = rk_p;
  rk_klo = min(rk_klo, rk_p);
  rk_khi = max(rk_khi, rk_p);
  ${stores.join('\n  ')}
  rk_work[rk_base + ${1 + tag}u] = rk_tag.x;
  rk_work[rk_base + ${2 + tag}u] = rk_tag.y;
  rk_emits++;
  return true;
}
`;
}

export interface HandlerSource {
  code: string;
  /** line (1-based) of the module on which the kernel's own WGSL starts */
  userLine: number;
  /** lines of the kernel's own WGSL */
  userLines: number;
}

export function handlerWgsl(def: RingKernelDefinition, maxPerTick: number): HandlerSource {
  const w = workLayout(def, maxPerTick);
  // (one struct per name: defineRingKernel refuses two different schemas of one name)
  const structs = new Map<string, string>();
  for (const s of [def.input, def.output]) if (s) structs.set(s.name, s.wgsl);
  const prelude = [
    deviceApiConstants(),
    kernelLayoutWgsl(),
    `const RK_MAX_EMITS: u32 = ${def.maxEmits}u;`,
    `const RK_S_OUT: u32 = ${w.recordWords}u;`,
    `const RK_IN_WORDS: u32 = ${def.inputEnvelope.words}u;`,
    `const RK_IN_TAG: u32 = ${tagWord(def.inputEnvelope)}u;`,
    `const RK_FAIL_OFF: u32 = ${w.failOff}u;`,
    `const RK_EVENT_OFF: u32 = ${w.eventOff}u;`,
    `const RK_EVENT_CAP: u32 = ${w.eventCap}u;`,
    ...structs.values(),
  ].join('\n');
  const parts = template
    .replace('{{prelude}}', prelude)
    .replace('{{input}}', def.input.name)
    .replace('{{load}}', loadMessage(def.input))
    .replace('{{stateBinding}}', def.state ? `@group(0) @binding(5) var<storage, read_write> rk_state: ${def.state.type};` : '')
    .replace('{{emit}}', def.output && def.outputEnvelope ? emitFunction(def.output, def.outputEnvelope) : '')
    .split('{{user}}');
  const before = parts[0];
  return {
    code: before + def.wgsl + parts[1],
    userLine: before.split('\n').length,
    userLines: def.wgsl.split('\n').length,
  };
}
