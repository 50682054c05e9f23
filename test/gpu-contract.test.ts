import { GpuMessageQueue } from 'ringkernel';
import { queueContract, type TestQueue } from './contract.js';
import { describeGpu } from './gpu-helpers.js';
import { SchemaAdapter } from './gpu-schema-adapter.js';

const settle = async (q: TestQueue<any>) => {
  await (q as unknown as { flush(): Promise<void> }).flush();
};

describeGpu('GpuMessageQueue (opaque payloads)', () => {
  queueContract('GpuMessageQueue opaque', (options) => GpuMessageQueue.create(options as never) as never, settle);
});

describeGpu('GpuMessageQueue (schema payloads)', () => {
  queueContract('GpuMessageQueue schema', (options) => SchemaAdapter.create(options as never) as never, settle);
});
