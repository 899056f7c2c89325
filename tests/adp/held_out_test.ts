/**
 * The shots' patch distances that calibration reads: nearest-patch cosine distances per memory grid,
 * brought back to the frame's orientation, and the self-reference distances.
 */
import assert from "node:assert/strict";
import { heldOutDistances } from "../../src/adp/held_out.ts";
import { subsetScore } from "../../src/adp/calibration.ts";
import type { PatchFeatures } from "../../src/adp/patch/mod.ts";

/** A 1×2 grid of unit vectors at the given angles (dim 2). */
function grid(...angles: number[]): Float32Array {
  return Float32Array.from(angles.flatMap((a) => [Math.cos(a), Math.sin(a)]));
}

function features(n: number, data: Float32Array): PatchFeatures {
  return { n, gridH: 1, gridW: 2, dim: 2, data };
}

Deno.test("heldOutDistances() measures each patch against each shot's grid, in the frame's orientation", async () => {
  // Shot 0: patches at 0 and 0.5 rad; shot 1: at 0.2 and 1.0 rad. One view each (identity).
  const a = grid(0, 0.5), b = grid(0.2, 1.0);
  const bank = [features(1, a), features(1, b)];
  const d = await heldOutDistances(bank, [features(1, a), features(1, b)], ["identity"], {
    selfRadius: null,
    imageScore: { kind: "max" },
  });
  assert.deepEqual([d.shots, d.testViews, d.memoryViews, d.cells], [2, 1, 1, 2]);
  const at = (i: number, j: number, c: number) => d.cross[((i * 1 + 0) * 2 + j) * 2 + c];
  const close = (x: number, y: number) => Math.abs(x - y) < 1e-6;
  // Shot 0's patch 0 (0 rad) to shot 1's nearest (0.2 rad): 1 − cos 0.2; patch 1 (0.5) to 0.2 or 1.0: 0.3 and 0.5.
  assert.ok(close(at(0, 1, 0), 1 - Math.cos(0.2)) && close(at(0, 1, 1), 1 - Math.cos(0.3)));
  assert.ok(close(at(0, 0, 0), 0) && close(at(1, 1, 1), 0), "a grid against itself");
  assert.ok(close(subsetScore(d, 0, [1]), 1 - Math.cos(0.3)));
  assert.ok(close(subsetScore(d, 1, [0]), 1 - Math.cos(0.5)));

  // Through flipH the two cells swap, and the distances come back to the frame's cells.
  const flipped = await heldOutDistances(
    [
      features(2, Float32Array.of(...a, ...grid(0.5, 0))),
      features(2, Float32Array.of(...b, ...grid(1.0, 0.2))),
    ],
    [features(1, a), features(1, grid(0.5, 0)), features(1, b), features(1, grid(1.0, 0.2))],
    ["identity", "flipH"],
    { selfRadius: 0, imageScore: { kind: "max" } },
  );
  const f = (i: number, v: number, j: number, w: number, c: number) =>
    flipped.cross[(((i * 2 + v) * 2 + j) * 2 + w) * 2 + c];
  for (let w = 0; w < 2; w++) {
    for (let c = 0; c < 2; c++) assert.ok(close(f(0, 1, 1, w, c), f(0, 0, 1, w, c)), `view back in place`);
  }
  // Self-reference beyond radius 0: each patch's distance to the other cell of its own grid.
  assert.ok(close(flipped.self![0], 1 - Math.cos(0.5)) && close(flipped.self![1], 1 - Math.cos(0.5)));
});
