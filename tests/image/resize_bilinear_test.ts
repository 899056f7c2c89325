/**
 * Pillow-style bilinear resampling against values worked out by hand from Pillow's algorithm
 * (triangle filter widened by the scale, normalised, 22-bit fixed point, rounding half up).
 */
import assert from "node:assert/strict";
import { resizeBilinear } from "../../src/image/resize_bilinear.ts";
import { ConfigError } from "../../src/errors.ts";

Deno.test("resizeBilinear() halves a row with the widened triangle's weights", () => {
  // 4 → 2: scale 2, support 2. Output 0 centres at 1.0 and reads x = 0, 1, 2 with weights
  // tri(−0.25), tri(0.25), tri(0.75) = 0.75, 0.75, 0.25 (÷ 1.75): (0·3 + 100·3 + 200·1)/7 = 71.43 → 71.
  // Output 1 centres at 3.0 and reads x = 1, 2, 3 with 0.25, 0.75, 0.75: (100 + 600 + 765)/7 = 209.3 → 209.
  const image = { width: 4, height: 1, channels: 1, data: Uint8Array.of(0, 100, 200, 255) };
  assert.deepEqual([...resizeBilinear(image, { width: 2, height: 1 }).data], [71, 209]);
});

Deno.test("resizeBilinear() enlarges by plain linear interpolation between pixel centres", () => {
  // 2 → 4: output centres at 0.25, 0.75, 1.25, 1.75 of the source: the inner two lie between the
  // pixels (weights ¾/¼), the outer two see only the nearer pixel.
  const image = { width: 2, height: 1, channels: 1, data: Uint8Array.of(0, 200) };
  assert.deepEqual([...resizeBilinear(image, { width: 4, height: 1 }).data], [0, 50, 150, 200]);
});

Deno.test("resizeBilinear() treats channels independently and resizes both axes", () => {
  const data = new Uint8Array(6 * 4 * 3);
  for (let i = 0; i < 24; i++) data.set([10, 20 + i, 250], i * 3);
  const out = resizeBilinear({ width: 6, height: 4, channels: 3, data }, { width: 3, height: 2 });
  assert.deepEqual([out.width, out.height, out.channels, out.data.length], [3, 2, 3, 18]);
  for (let i = 0; i < 6; i++) {
    assert.equal(out.data[i * 3], 10);
    assert.equal(out.data[i * 3 + 2], 250);
  }
  assert.ok(out.data[1] < out.data[3 * 3 + 1], "the ramp channel still rises downwards");
  assert.throws(
    () =>
      resizeBilinear({ width: 2, height: 2, channels: 1, data: new Uint8Array(3) }, { width: 1, height: 1 }),
    ConfigError,
  );
  assert.throws(
    () =>
      resizeBilinear({ width: 2, height: 2, channels: 1, data: new Uint8Array(4) }, { width: 0, height: 1 }),
    ConfigError,
  );
});
