/** Small DOM and formatting helpers shared by the demo's panels. */
import { fmtMs } from '../bench/harness.js';

/** The element with this id; index.html and the code must agree, so a missing one is a bug. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`demo: #${id} is missing from index.html`);
  return el as T;
}

type Attrs = Record<string, string | number | boolean | undefined>;

/** Creates an element: `h('span', { class: 'x', 'data-field': 'errors' }, 'text', child)`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  el.append(...children);
  return el;
}

/** Sets text only when it changed: the live view rewrites dozens of cells four times a second. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** 1234567 → "1.23 M": figures a person reads at a glance. */
export function si(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return '–';
  const units: Array<[number, string]> = [[1e9, ' G'], [1e6, ' M'], [1e3, ' k']];
  for (const [scale, unit] of units) if (Math.abs(v) >= scale) return `${+(v / scale).toPrecision(digits)}${unit}`;
  return String(+v.toPrecision(digits));
}

/** A duration in ms with a sensible unit: the bench's own formatter, so the page and the CLI agree. */
export function duration(ms: number): string {
  return Number.isFinite(ms) ? fmtMs(ms) : '–';
}

/** An error as one line: its name and message. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
