/**
 * Anomaly-map upsampling and blur on hand-made grids.
 */
import assert from "node:assert/strict";
import { anomalyMap, gaussianBlur, upsampleBilinear } from "../../../src/adp/patch/anomaly_map.ts";
import { ConfigError, ShapeError } from "../../../src/errors.ts";
import { assertClose } from "../../_numeric.ts";

Deno.test("upsampleBilinear() matches half-pixel interpolation worked out by hand on a 2×2 grid", () => {
  // Output centres at (i + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25 in source units, clamped to [0, 1]:
  // weights of the second source cell 0, 0.25, 0.75, 1 along each axis.
  const grid = { width: 2, height: 2, data: Float32Array.of(0, 4, 8, 12) };
  const out = upsampleBilinear(grid, { width: 4, height: 4 });
  const row = (a: number, b: number) => [a, a + 0.25 * (b - a), a + 0.75 * (b - a), b];
  const top = row(0, 4), bottom = row(8, 12);
  const expected = [0, 0.25, 0.75, 1].flatMap((t) => top.map((v, i) => v + t * (bottom[i] - v)));
  assertClose(out.data, expected, 1e-6, "2×2 → 4×4");
});

Deno.test("upsampleBilinear() reproduces a linear ramp exactly when enlarging a 14×14 grid 16 times", () => {
  // Bilinear interpolation of a plane is the plane itself: output pixel i sits at source coordinate
  // (i + 0.5)/16 − 0.5, held at the outermost centres (0 and 13).
  const data = Float32Array.from({ length: 14 * 14 }, (_, i) => 3 * Math.floor(i / 14) + 5 * (i % 14));
  const out = upsampleBilinear({ width: 14, height: 14, data }, { width: 224, height: 224 });
  const source = (i: number) => Math.min(Math.max((i + 0.5) / 16 - 0.5, 0), 13);
  const expected = Array.from(
    { length: 224 * 224 },
    (_, i) => 3 * source(Math.floor(i / 224)) + 5 * source(i % 224),
  );
  assertClose(out.data, expected, 1e-4, "ramp");
});

Deno.test("gaussianBlur() preserves the sum of an interior impulse and spreads it symmetrically", () => {
  const data = new Float32Array(21 * 21);
  data[10 * 21 + 10] = 1;
  const out = gaussianBlur({ width: 21, height: 21, data }, 1.5);
  const sum = out.data.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum - 1) < 1e-5, `sum ${sum}`);
  assert.ok(Math.abs(out.data[10 * 21 + 8] - out.data[10 * 21 + 12]) < 1e-7);
  assert.ok(Math.abs(out.data[8 * 21 + 10] - out.data[10 * 21 + 8]) < 1e-7);
  // 1-D Gaussian weights at 0 and 2 of σ = 1.5 (normalised over ±6) squared and crossed.
  const w = (i: number) => Math.exp(-(i * i) / (2 * 1.5 * 1.5));
  let z = 0;
  for (let i = -6; i <= 6; i++) z += w(i);
  assert.ok(Math.abs(out.data[10 * 21 + 10] - (w(0) / z) ** 2) < 1e-6);
  assert.ok(Math.abs(out.data[10 * 21 + 12] - (w(0) * w(2)) / (z * z)) < 1e-6);
});

Deno.test("anomalyMap() puts the hottest pixel in the hot cell and rejects a short grid", () => {
  const d = new Float32Array(7 * 5);
  d[3 * 5 + 1] = 1; // row 3 of 7, column 1 of 5
  const map = anomalyMap(d, { gridH: 7, gridW: 5, width: 50, height: 70, sigma: 3 });
  let best = 0;
  for (let i = 1; i < map.data.length; i++) if (map.data[i] > map.data[best]) best = i;
  assert.equal(Math.floor(Math.floor(best / 50) / 10), 3);
  assert.equal(Math.floor((best % 50) / 10), 1);
  assert.throws(
    () => anomalyMap(new Float32Array(3), { gridH: 2, gridW: 2, width: 4, height: 4 }),
    ShapeError,
  );
  assert.throws(() => gaussianBlur({ width: 1, height: 1, data: new Float32Array(1) }, 0), ConfigError);
});

Deno.test("anomalyMap() equals upsampling then blurring the frame, on a random grid and a non-square frame", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const distances = Float32Array.from({ length: 14 * 10 }, rand);
  for (const sigma of [0, 1.5, 4.6]) {
    const direct = upsampleBilinear({ width: 10, height: 14, data: distances }, { width: 183, height: 256 });
    const expected = sigma > 0 ? gaussianBlur(direct, sigma) : direct;
    const map = anomalyMap(distances, { gridH: 14, gridW: 10, width: 183, height: 256, sigma });
    // Both are float32 sums of the same products in another order: ~1e-7 of values ≤ 1.
    assertClose(map.data, expected.data, 1e-5, `σ = ${sigma}`);
  }
});
