// Exits 0 and prints the adapter when WebGPU (Dawn, through the `webgpu` package) finds one; exits 1 otherwise.
// Used by setup.sh to decide whether the machine needs the software Vulkan driver.
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const adapter = await create([]).requestAdapter();
if (!adapter) {
  console.log('no WebGPU adapter');
  process.exit(1);
}
const { vendor, architecture, description } = adapter.info;
console.log(`WebGPU adapter: ${vendor} / ${architecture} / ${description}`);
process.exit(0);
