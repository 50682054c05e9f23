/**
 * Names a schema cannot take because WGSL, or the code ringkernel generates around a kernel's
 * WGSL, already means something by them.
 *
 *  - keywords and reserved words: not identifiers at all;
 *  - predeclared types, enumerants and built-in functions: a struct of that name would shadow them at module
 *    scope, and the generated code (rk_emit calls min and bitcast, the handler atomicLoad, ...)
 *    as well as the kernel's own WGSL would stop compiling, or mean something else;
 *  - ringkernel's own prefixes (rk_, RK_, RkEnvelope_): the generated constants, functions and
 *    envelope structs.
 */

const KEYWORDS = [
  'alias', 'break', 'case', 'const', 'const_assert', 'continue', 'continuing', 'default', 'diagnostic', 'discard',
  'else', 'enable', 'false', 'fn', 'for', 'if', 'let', 'loop', 'override', 'requires', 'return', 'struct', 'switch',
  'true', 'var', 'while',
];

const RESERVED_WORDS = [
  'NULL', 'Self', 'abstract', 'active', 'alignas', 'alignof', 'as', 'asm', 'asm_fragment', 'async', 'attribute', 'auto',
  'await', 'become', 'cast', 'catch', 'class', 'co_await', 'co_return', 'co_yield', 'coherent', 'column_major', 'common',
  'compile', 'compile_fragment', 'concept', 'const_cast', 'consteval', 'constexpr', 'constinit', 'crate', 'debugger',
  'decltype', 'delete', 'demote', 'demote_to_helper', 'do', 'dynamic_cast', 'enum', 'explicit', 'export', 'extends',
  'extern', 'external', 'fallthrough', 'filter', 'final', 'finally', 'friend', 'from', 'fxgroup', 'get', 'goto', 'groupshared',
  'highp', 'impl', 'implements', 'import', 'inline', 'instanceof', 'interface', 'layout', 'lowp', 'macro', 'macro_rules',
  'match', 'mediump', 'meta', 'mod', 'module', 'move', 'mut', 'mutable', 'namespace', 'new', 'nil', 'noexcept', 'noinline',
  'nointerpolation', 'non_coherent', 'noncoherent', 'noperspective', 'null', 'nullptr', 'of', 'operator', 'package',
  'packoffset', 'partition', 'pass', 'patch', 'pixelfragment', 'precise', 'precision', 'premerge', 'priv', 'protected',
  'pub', 'public', 'readonly', 'ref', 'regardless', 'register', 'reinterpret_cast', 'require', 'resource', 'restrict',
  'self', 'set', 'shared', 'sizeof', 'smooth', 'snorm', 'static', 'static_assert', 'static_cast', 'std', 'subroutine',
  'super', 'target', 'template', 'this', 'thread_local', 'throw', 'trait', 'try', 'type', 'typedef', 'typeid', 'typename',
  'typeof', 'union', 'unless', 'unorm', 'unsafe', 'unsized', 'use', 'using', 'varying', 'virtual', 'volatile', 'wgsl',
  'where', 'with', 'writeonly', 'yield',
  'binding_array',
];

const PREDECLARED_TYPES = [
  'bool', 'f16', 'f32', 'i32', 'u32', 'vec2', 'vec3', 'vec4', 'mat2x2', 'mat2x3', 'mat2x4', 'mat3x2', 'mat3x3', 'mat3x4',
  'mat4x2', 'mat4x3', 'mat4x4', 'array', 'atomic', 'ptr', 'sampler', 'sampler_comparison',
  ...['i', 'u', 'f', 'h'].flatMap((s) => ['vec2', 'vec3', 'vec4'].map((v) => v + s)),
  ...['f', 'h'].flatMap((s) => ['2x2', '2x3', '2x4', '3x2', '3x3', '3x4', '4x2', '4x3', '4x4'].map((m) => `mat${m}${s}`)),
];

const BUILTIN_FUNCTIONS = [
  // constructors and conversion
  'bitcast',
  // logical, array
  'all', 'any', 'select', 'arrayLength',
  // numeric
  'abs', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'atan2', 'ceil', 'clamp', 'cos', 'cosh', 'countLeadingZeros',
  'countOneBits', 'countTrailingZeros', 'cross', 'degrees', 'determinant', 'distance', 'dot', 'dot4U8Packed', 'dot4I8Packed',
  'exp', 'exp2', 'extractBits', 'faceForward', 'firstLeadingBit', 'firstTrailingBit', 'floor', 'fma', 'fract', 'frexp',
  'insertBits', 'inverseSqrt', 'ldexp', 'length', 'log', 'log2', 'max', 'min', 'mix', 'modf', 'normalize', 'pow',
  'quantizeToF16', 'radians', 'reflect', 'refract', 'reverseBits', 'round', 'saturate', 'sign', 'sin', 'sinh',
  'smoothstep', 'sqrt', 'step', 'tan', 'tanh', 'transpose', 'trunc',
  // packing
  'pack4x8snorm', 'pack4x8unorm', 'pack4xI8', 'pack4xU8', 'pack4xI8Clamp', 'pack4xU8Clamp', 'pack2x16snorm',
  'pack2x16unorm', 'pack2x16float', 'unpack4x8snorm', 'unpack4x8unorm', 'unpack4xI8', 'unpack4xU8', 'unpack2x16snorm',
  'unpack2x16unorm', 'unpack2x16float',
  // synchronization and atomics
  'storageBarrier', 'textureBarrier', 'workgroupBarrier', 'workgroupUniformLoad', 'atomicLoad', 'atomicStore', 'atomicAdd',
  'atomicSub', 'atomicMax', 'atomicMin', 'atomicAnd', 'atomicOr', 'atomicXor', 'atomicExchange', 'atomicCompareExchangeWeak',
  // derivatives and subgroups (names only: a struct of these names would shadow them)
  'dpdx', 'dpdxCoarse', 'dpdxFine', 'dpdy', 'dpdyCoarse', 'dpdyFine', 'fwidth', 'fwidthCoarse', 'fwidthFine',
  'subgroupAdd', 'subgroupAll', 'subgroupAnd', 'subgroupAny', 'subgroupBallot', 'subgroupBroadcast', 'subgroupMax',
  'subgroupMin', 'subgroupMul', 'subgroupOr', 'subgroupShuffle', 'subgroupXor',
];

/** Predeclared enumerants: address spaces and access modes (`var<storage, read_write>`), which a struct would shadow too ('handle' is also every kernel's fn handle). */
const ENUMERANTS = ['function', 'private', 'workgroup', 'uniform', 'storage', 'handle', 'read', 'write', 'read_write'];

const RESERVED = new Set(KEYWORDS.concat(RESERVED_WORDS));
const PREDECLARED = new Set(PREDECLARED_TYPES.concat(BUILTIN_FUNCTIONS, ENUMERANTS));
const RINGKERNEL_PREFIX = /^(rk_|RK_|RkEnvelope_)/;

/** Throws a TypeError when `name` cannot be a WGSL identifier of a user's (`what` names it in the message). */
export function checkWgslIdentifier(what: string, name: string): void {
  if (RESERVED.has(name)) throw new TypeError(`${what} '${name}' is a WGSL keyword or reserved word; choose another name`);
}

/** Throws a TypeError when `name` cannot be the name of a struct ringkernel declares for a schema. */
export function checkStructName(name: string): void {
  checkWgslIdentifier('schema name', name);
  if (PREDECLARED.has(name)) throw new TypeError(`schema name '${name}' is a WGSL predeclared type, enumerant or built-in function: a struct of that name would shadow it; choose another name`);
  if (RINGKERNEL_PREFIX.test(name)) throw new TypeError(`schema name '${name}': names starting with rk_, RK_ or RkEnvelope_ are ringkernel's own; choose another name`);
}
