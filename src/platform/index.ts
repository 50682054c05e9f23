/**
 * The platform ringkernel runs on. This re-exports the Node layer; the browser build
 * (scripts/build.mjs, `platform: 'browser'`) resolves this module to `browser.ts` instead.
 */
export * from './node.js';
