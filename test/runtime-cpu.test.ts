import { runtimeSuite } from './runtime-suite.js';

runtimeSuite('cpu');
