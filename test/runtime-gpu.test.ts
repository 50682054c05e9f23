import { describeGpu } from './gpu-helpers.js';
import { runtimeSuite } from './runtime-suite.js';

describeGpu('ring kernels on the GPU', () => runtimeSuite('gpu'));
