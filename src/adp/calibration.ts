/**
 * Calibration math: pure functions of scores.
 *
 * @module
 */
import type { HeldOutDistances } from "./held_out.ts";
import { imageScore } from "./patch_memory.ts";

/**
 * The patch score shot `shot` gets against a memory of some of the shots' view grids, from the
 * measured distances: per test view the nearest of the memory's grids (and the self-reference),
 * averaged over the test views, then the image score rule.
 *
 * @param d the held-out distances
 * @param shot the shot scored
 * @param grids memory grids as `j·W + w` (shot j, memory view w)
 * @param testViews which test views to average (default all)
 */
export function subsetScore(
  d: HeldOutDistances,
  shot: number,
  grids: readonly number[],
  testViews?: readonly number[],
): number {
  const { shots: k, testViews: u, memoryViews: w, cells } = d;
  const views = testViews ?? Array.from({ length: u }, (_, i) => i);
  const merged = new Float32Array(cells);
  for (const v of views) {
    const base = (shot * u + v) * k * w * cells;
    for (let c = 0; c < cells; c++) {
      let best = d.self ? d.self[(shot * u + v) * cells + c] : Infinity;
      for (const g of grids) {
        const x = d.cross[base + g * cells + c];
        if (x < best) best = x;
      }
      merged[c] += best / views.length;
    }
  }
  return imageScore(merged, d.imageScore);
}
