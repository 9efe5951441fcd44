/**
 * A small fixed-size Bloom filter over `field=value` keys, one per index chunk: "certainly absent" lets a
 * query skip a chunk without reading it; "maybe present" means read it. Pure.
 */

/** About 10 bits per distinct key with 3 probes: ~2% false positives. */
const BITS_PER_KEY = 10;
const PROBES = 3;
/** Bounds per filter: 32 bytes for a quiet chunk, 2 KiB for one where every line has its own hook id. */
const MIN_BITS = 256;
export const MAX_BITS = 16_384;

export type Bloom = Uint32Array;

/** A filter sized for `distinctKeys` keys (a power of two of bits, within the bounds). */
export function createBloom(distinctKeys: number): Bloom {
  let bits = MIN_BITS;
  while (bits < distinctKeys * BITS_PER_KEY && bits < MAX_BITS) bits *= 2;
  return new Uint32Array(bits / 32);
}

/** FNV-1a 32-bit, with the second hash derived by re-mixing (Kirsch–Mitzenmacher double hashing). */
function hashes(key: string): [number, number] {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  let h2 = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h2 = Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35) | 1;
  return [h >>> 0, h2 >>> 0];
}

export function bloomAdd(bloom: Bloom, key: string): void {
  const [a, b] = hashes(key);
  for (let i = 0; i < PROBES; i++) {
    const bit = (a + i * b) % (bloom.length * 32);
    bloom[bit >>> 5] = (bloom[bit >>> 5] as number) | (1 << (bit & 31));
  }
}

export function bloomMayContain(bloom: Bloom, key: string): boolean {
  const [a, b] = hashes(key);
  for (let i = 0; i < PROBES; i++) {
    const bit = (a + i * b) % (bloom.length * 32);
    if (((bloom[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false;
  }
  return true;
}
