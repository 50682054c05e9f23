/** Deterministic priorities, so every run and every implementation sees the same sequence. */

/** mulberry32: tiny, fast, good enough for benchmark inputs (not for anything else). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Size of the precomputed priority table; a power of two so the hot loops can index with a mask. */
export const PRIORITY_TABLE_SIZE = 1 << 16;
export const PRIORITY_MASK = PRIORITY_TABLE_SIZE - 1;

/**
 * Uniform priorities in 0..255 drawn once from a seeded PRNG. The timed loops read this table
 * (one load and a mask) instead of calling the PRNG, so generating input costs the same tiny amount
 * for every implementation.
 */
export function priorityTable(seed: number): Uint8Array {
  const next = mulberry32(seed);
  const table = new Uint8Array(PRIORITY_TABLE_SIZE);
  for (let i = 0; i < table.length; i++) table[i] = Math.floor(next() * 256);
  return table;
}

export const DEFAULT_SEED = 0x5eed;
