import { deepStrictEqual, notDeepStrictEqual, ok, throws } from "node:assert/strict";
import { PERLIN_BOUND, perlinNoise } from "../../../src/adp/synth/perlin.ts";
import { Random } from "../../../src/random.ts";
import { ConfigError } from "../../../src/errors.ts";

const SIZE = { width: 160, height: 96 };

Deno.test("perlinNoise() stays within ±√½ for one octave and for several", () => {
  for (const octaves of [1, 4]) {
    const n = perlinNoise(SIZE, new Random(11), { cells: 6, octaves, angle: 0.7 });
    let lo = Infinity, hi = -Infinity;
    for (const v of n) lo = Math.min(lo, v), hi = Math.max(hi, v);
    ok(lo >= -PERLIN_BOUND && hi <= PERLIN_BOUND, `octaves ${octaves}: range [${lo}, ${hi}]`);
    // Not degenerate: the field uses a fair part of its range.
    ok(hi - lo > 0.4, `octaves ${octaves}: range only ${hi - lo}`);
  }
});

Deno.test("perlinNoise() changes little between neighbouring pixels", () => {
  const cells = 8;
  const n = perlinNoise(SIZE, new Random(3), { cells, angle: 1.1 });
  // The gradient of 2-D Perlin noise is below 2 per cell; a pixel is 1/20 of a cell here.
  const limit = (2 * cells) / Math.max(SIZE.width, SIZE.height);
  let worst = 0;
  for (let y = 0; y < SIZE.height - 1; y++) {
    for (let x = 0; x < SIZE.width - 1; x++) {
      const i = y * SIZE.width + x;
      worst = Math.max(worst, Math.abs(n[i + 1] - n[i]), Math.abs(n[i + SIZE.width] - n[i]));
    }
  }
  ok(worst < limit, `largest neighbour step ${worst} exceeds ${limit}`);
});

Deno.test("perlinNoise() is zero on the lattice when not rotated", () => {
  // The field is centred on pixel (20, 20) and the lattice shift there is a whole number of cells,
  // so that pixel sits on a lattice point, where every gradient's contribution is zero.
  const n = perlinNoise({ width: 41, height: 41 }, new Random(5), { cells: 4 });
  ok(Math.abs(n[20 * 41 + 20]) < 1e-6, `centre value ${n[20 * 41 + 20]}`);
});

Deno.test("perlinNoise() gives the same field for the same seed and another for another", () => {
  const a = perlinNoise(SIZE, new Random(1), { cells: 5, octaves: 3 });
  const b = perlinNoise(SIZE, new Random(1), { cells: 5, octaves: 3 });
  const c = perlinNoise(SIZE, new Random(2), { cells: 5, octaves: 3 });
  deepStrictEqual(a, b);
  notDeepStrictEqual(a, c);
});

Deno.test("perlinNoise() refuses an empty field or a non-positive frequency", () => {
  throws(() => perlinNoise({ width: 0, height: 4 }, new Random(0), { cells: 2 }), ConfigError);
  throws(() => perlinNoise({ width: 4, height: 4 }, new Random(0), { cells: 0 }), ConfigError);
  throws(() => perlinNoise({ width: 4, height: 4 }, new Random(0), { cells: 2, octaves: 0 }), ConfigError);
});
