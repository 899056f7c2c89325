/**
 * Seeded pseudo-random numbers: everything the product randomises (checkpoints, pseudo-anomalies,
 * few-shot draws, concept initial noise) is reproducible from a seed, so one PRNG serves them all.
 *
 * @module
 */

/** A deterministic random source. */
export class Random {
  #state: number;

  /**
   * Starts the sequence of `seed`.
   * @param seed any 32-bit integer
   */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A generator for `seed` and a stream name, independent of the order streams are used in. */
  static forStream(seed: number, stream: string): Random {
    return new Random(hashSeed(seed, stream));
  }

  /** Uniform in [0, 1) (mulberry32: fast, 32-bit state, good enough for data synthesis). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer uniform in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** `k` distinct indices of [0, n), in draw order (partial Fisher–Yates). */
  sample(n: number, k: number): number[] {
    const pool = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(this.next() * (n - i));
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    return pool.slice(0, k);
  }
}

/** FNV-1a of a seed and a stream name: one independent stream per name. */
export function hashSeed(seed: number, stream: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < stream.length; i++) {
    h ^= stream.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
