/**
 * numpy's legacy `RandomState(seed).choice(n, k, replace=False)`: the draw the proxy backbone's
 * published baseline (`models/proxy/README.md`) was measured with. Few-shot figures depend on which
 * K images were drawn — on magnetic tile our own draws move the K = 1 image AUROC by 0.05 — so
 * reproducing a table to ±0.01 needs the same draws, not merely equally random ones.
 *
 * What numpy does: the Mersenne Twister MT19937 seeded by `init_genrand(seed)`; `choice` without
 * replacement takes the first k of `permutation(n)`, a Fisher–Yates shuffle from the top where each
 * index j ∈ [0, i] is drawn by masked rejection (the smallest all-ones mask ≥ i, 32-bit outputs).
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/**
 * The indices `numpy.random.RandomState(seed).choice(n, k, replace=False)` returns.
 *
 * @param n the population size (at least 1)
 * @param opts `k` (1…n) and the 32-bit `seed`
 * @returns k distinct indices in draw order
 * @throws {ConfigError} when n, k or the seed are out of range
 *
 * @example numpy's draw of 2 from 10 with seed 0 is [2, 8]
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * deepStrictEqual(numpyChoice(10, { k: 2, seed: 0 }), [2, 8]);
 * ```
 */
export function numpyChoice(n: number, opts: { k: number; seed: number }): number[] {
  const { k, seed } = opts;
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`Population must be a positive integer: got ${n}`);
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new ConfigError(`Draw size must be an integer from 1 to ${n}: got ${k}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new ConfigError(`numpy seeds are integers from 0 to 2^32 - 1: got ${seed}`);
  }
  const mt = new Mt19937(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i >= 1; i--) {
    const j = mt.interval(i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order.slice(0, k);
}

/** MT19937 (Matsumoto and Nishimura 1998) with `init_genrand` seeding. */
export class Mt19937 {
  #state = new Uint32Array(624);
  #next = 624;

  /** A generator seeded as `RandomState(seed)`. @param seed a 32-bit seed */
  constructor(seed: number) {
    const s = this.#state;
    s[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const x = s[i - 1] ^ (s[i - 1] >>> 30);
      s[i] = (Math.imul(1812433253, x) + i) >>> 0;
    }
  }

  /** The next 32-bit output. */
  uint32(): number {
    const s = this.#state;
    if (this.#next >= 624) {
      for (let i = 0; i < 624; i++) {
        const y = (s[i] & 0x80000000) | (s[(i + 1) % 624] & 0x7fffffff);
        s[i] = s[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.#next = 0;
    }
    let y = s[this.#next++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Uniform in [0, max] by masked rejection, numpy's `random_interval` for max < 2³². */
  interval(max: number): number {
    if (max === 0) return 0;
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    for (;;) {
      const v = (this.uint32() & mask) >>> 0;
      if (v <= max) return v;
    }
  }
}
