import { queueContract } from './contract.js';
import { describeGpu } from './gpu-helpers.js';
import { ALL_CONFIGS, flushOf } from './gpu-configs.js';

for (const config of ALL_CONFIGS) {
  describeGpu(`GpuMessageQueue (${config.name})`, () => {
    queueContract(`GpuMessageQueue ${config.name}`, (options) => config.make(options as never) as never, flushOf);
  });
}
