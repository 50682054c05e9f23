// WGSL sources are bundled into the build as text (see scripts/build.mjs).
declare module '*.wgsl' {
  const source: string;
  export default source;
}
