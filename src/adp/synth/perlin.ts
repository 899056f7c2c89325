/**
 * Perlin gradient noise, the one noise source of the synthesizer: DRAEM's anomaly masks are
 * thresholded Perlin noise, and the same field mottles stains and makes procedural textures.
 *
 * @module
 */
import { ConfigError } from "../../errors.ts";
import type { Random } from "../../random.ts";

/** Options for {@linkcode perlinNoise}. */
export interface PerlinOptions {
  /** Lattice cells across the longer side of the field: the base frequency. */
  cells: number;
  /**
   * Octaves summed, each with twice the frequency of the one before.
   * @default {1}
   */
  octaves?: number;
  /**
   * Amplitude ratio between consecutive octaves.
   * @default {0.5}
   */
  persistence?: number;
  /**
   * Rotation of the field about its centre, in radians: DRAEM rotates its noise so that blobs do not
   * line up with the lattice axes.
   * @default {0}
   */
  angle?: number;
}

/** Largest magnitude 2-D Perlin noise reaches: √½, at a cell centre with all four gradients aligned. */
export const PERLIN_BOUND: number = Math.SQRT1_2;

/**
 * Fills a `width`×`height` field with Perlin noise whose lattice gradients are drawn from `random`.
 * Octaves are weighted so that their sum stays within ±{@linkcode PERLIN_BOUND}.
 *
 * @param size the field's width and height in pixels
 * @param random the gradient source (consumed: the same state gives the same field)
 * @param opts frequency, octaves and rotation
 * @returns `width * height` values, row-major, in [−√½, √½]
 * @throws {ConfigError} when a size, `cells` or `octaves` is not positive
 *
 * @example A smooth field within its bound
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { Random } from "../../random.ts";
 * const n = perlinNoise({ width: 64, height: 32 }, new Random(1), { cells: 4 });
 * ok(n.every((v) => Math.abs(v) <= PERLIN_BOUND));
 * ok(Math.abs(n[0] - n[1]) < 0.1);
 * ```
 */
export function perlinNoise(
  size: { width: number; height: number },
  random: Random,
  opts: PerlinOptions,
): Float32Array {
  const { width, height } = size;
  const { cells, octaves = 1, persistence = 0.5, angle = 0 } = opts;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new ConfigError(`Noise size must be positive integers: got ${width}×${height}`);
  }
  if (!(cells > 0) || !(Number.isInteger(octaves) && octaves > 0)) {
    throw new ConfigError(
      `Noise needs cells > 0 and a positive integer octave count: got ${cells}, ${octaves}`,
    );
  }
  const out = new Float32Array(width * height);
  const cos = Math.cos(angle), sin = Math.sin(angle);
  const cx = (width - 1) / 2, cy = (height - 1) / 2;
  let amplitude = 1;
  let total = 0;
  for (let o = 0; o < octaves; o++) {
    const frequency = (cells * 2 ** o) / Math.max(width, height);
    // A rotated field reaches past the image's corners: the lattice has to cover its diagonal.
    const period = Math.ceil(Math.hypot(width, height) * frequency) + 2;
    const lattice = gradientLattice(period, random);
    const shift = period / 2;
    for (let y = 0; y < height; y++) {
      const dy = y - cy;
      for (let x = 0; x < width; x++) {
        const dx = x - cx;
        const u = (cos * dx - sin * dy) * frequency + shift;
        const v = (sin * dx + cos * dy) * frequency + shift;
        out[y * width + x] += amplitude * noiseAt(lattice, period, u, v);
      }
    }
    total += amplitude;
    amplitude *= persistence;
  }
  if (total !== 1) { for (let i = 0; i < out.length; i++) out[i] /= total; }
  return out;
}

/** Unit gradients on a `period`×`period` lattice that wraps around, as interleaved (gx, gy). */
function gradientLattice(period: number, random: Random): Float32Array {
  const g = new Float32Array(period * period * 2);
  for (let i = 0; i < period * period; i++) {
    const a = random.uniform(0, 2 * Math.PI);
    g[2 * i] = Math.cos(a);
    g[2 * i + 1] = Math.sin(a);
  }
  return g;
}

function noiseAt(lattice: Float32Array, period: number, u: number, v: number): number {
  const iu = Math.floor(u), iv = Math.floor(v);
  const fu = u - iu, fv = v - iv;
  const x0 = ((iu % period) + period) % period, y0 = ((iv % period) + period) % period;
  const x1 = (x0 + 1) % period, y1 = (y0 + 1) % period;
  const n00 = dotGradient(lattice, (y0 * period + x0) * 2, fu, fv);
  const n10 = dotGradient(lattice, (y0 * period + x1) * 2, fu - 1, fv);
  const n01 = dotGradient(lattice, (y1 * period + x0) * 2, fu, fv - 1);
  const n11 = dotGradient(lattice, (y1 * period + x1) * 2, fu - 1, fv - 1);
  const su = fade(fu), sv = fade(fv);
  const top = n00 + su * (n10 - n00);
  const bottom = n01 + su * (n11 - n01);
  return top + sv * (bottom - top);
}

function dotGradient(lattice: Float32Array, at: number, dx: number, dy: number): number {
  return lattice[at] * dx + lattice[at + 1] * dy;
}

/** Perlin's quintic fade: zero first and second derivatives at the lattice, so no creases show. */
function fade(t: number): number {
  return t * t * t * (t * (t * 6 - 15) + 10);
}
