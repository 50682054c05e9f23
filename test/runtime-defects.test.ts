import { describeGpu } from './gpu-helpers.js';
import { runtimeDefectSuite } from './runtime-defects.js';

runtimeDefectSuite('cpu');
describeGpu('ring kernels on the GPU, under attack', () => runtimeDefectSuite('gpu'));
