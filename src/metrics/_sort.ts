/**
 * Sorting float32 scores for the threshold sweeps of the pixel metrics: tens of millions of values,
 * where the engine's comparison sort takes seconds and an index sort with a comparator minutes.
 * Each value becomes an order-preserving uint32 key (its bits with the sign folded; −0 taken as +0,
 * so that key equality is value equality) and keys are sorted by three 11-bit radix passes,
 * optionally moving a uint32 payload with them. The sweeps compare keys directly: same order, same
 * ties, no conversion back.
 *
 * @module
 */

const RADIX_BITS = 11;
const BUCKETS = 1 << RADIX_BITS;

/** The bits of a float32 array, to be turned into keys with {@linkcode floatKey}. */
export function float32Bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

/** The order-preserving key of a float32's bits (−0 as +0). */
export function floatKey(bits: number): number {
  if (bits === 0x80000000) return 0x80000000;
  return bits & 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
}

/** The float value of a key. */
export function keyValue(key: number): number {
  const bits = new Uint32Array([key & 0x80000000 ? (key & 0x7fffffff) >>> 0 : ~key >>> 0]);
  return new Float32Array(bits.buffer)[0];
}

/**
 * Sorts keys ascending, moving `payload` along when given. The inputs are used as scratch.
 *
 * @returns the sorted keys and payload (either the inputs or new arrays)
 */
export function radixSort(
  keys: Uint32Array,
  payload?: Uint32Array,
): { keys: Uint32Array; payload?: Uint32Array } {
  const counts = new Uint32Array(3 * BUCKETS);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    counts[k & (BUCKETS - 1)]++;
    counts[BUCKETS + ((k >>> RADIX_BITS) & (BUCKETS - 1))]++;
    counts[2 * BUCKETS + (k >>> (2 * RADIX_BITS))]++;
  }
  let otherKeys: Uint32Array = new Uint32Array(keys.length);
  let otherPayload: Uint32Array | undefined = payload ? new Uint32Array(payload.length) : undefined;
  for (let pass = 0; pass < 3; pass++) {
    const shift = pass * RADIX_BITS, base = pass * BUCKETS;
    let sum = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const c = counts[base + b];
      counts[base + b] = sum;
      sum += c;
    }
    if (payload) {
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        const to = counts[base + ((k >>> shift) & (BUCKETS - 1))]++;
        otherKeys[to] = k;
        otherPayload![to] = payload[i];
      }
      [payload, otherPayload] = [otherPayload!, payload];
    } else {
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i];
        otherKeys[counts[base + ((k >>> shift) & (BUCKETS - 1))]++] = k;
      }
    }
    [keys, otherKeys] = [otherKeys, keys];
  }
  return { keys, payload };
}
