/**
 * Edge excess: how much farther from the memory a good part's cells at the frame's edge lie than
 * its interior cells. A backbone pads at the border, and a cropped or squashed part ends there, so
 * edge patches of good frames match the memory worse than interior ones; with the largest patch
 * distance as image score, a good frame's score is often its edge (on magnetic tile 78% of good
 * test frames peak there, 58% of defective ones). Enrollment measures the excess per ring of cells
 * from the shots scored against one another, and scoring subtracts it before the maximum, so an
 * edge cell must stand out as far above the usual edge as an interior cell above the interior.
 *
 * Rings rather than a baseline per cell: a ring pools a few dozen cells of every shot, so a few
 * shots estimate it, and it describes the padding and the crop, not where a textured part's
 * features happen to fall (a per-cell baseline cost magnetic tile up to 0.02 image AUROC;
 * bench/PATCH_QUALITY.md).
 *
 * @module
 */

/**
 * Each cell's ring: its distance in cells to the grid's nearest edge (0 on the edge).
 *
 * @example A 3×3 grid: the centre is ring 1
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * deepStrictEqual([...cellRings(3, 3)], [0, 0, 0, 0, 1, 0, 0, 0, 0]);
 * ```
 */
export function cellRings(gridH: number, gridW: number): Int32Array {
  const rings = new Int32Array(gridH * gridW);
  for (let y = 0; y < gridH; y++) {
    for (let x = 0; x < gridW; x++) {
      rings[y * gridW + x] = Math.min(y, x, gridH - 1 - y, gridW - 1 - x);
    }
  }
  return rings;
}

/**
 * The mean excess of each of the outer `rings` rings over the interior (every cell farther in),
 * pooled over good frames' distance grids.
 *
 * @param grids good frames' patch distances, each gridH·gridW cells in frame orientation
 * @param grid the grid's shape
 * @param rings how many outer rings get their own excess
 * @returns `rings` excesses, outermost first; empty when there are no grids or no interior
 *
 * @example The edge of a 4×4 grid lies 0.5 farther than its centre
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const grid = Float32Array.from(cellRings(4, 4), (r) => (r === 0 ? 1 : 0.5));
 * deepStrictEqual(measureEdgeExcess([grid], { gridH: 4, gridW: 4 }, 1), [0.5]);
 * ```
 */
export function measureEdgeExcess(
  grids: readonly Float32Array[],
  grid: { gridH: number; gridW: number },
  rings: number,
): number[] {
  const ringOf = cellRings(grid.gridH, grid.gridW);
  const sums = new Float64Array(rings + 1), counts = new Float64Array(rings + 1);
  for (const g of grids) {
    for (let c = 0; c < ringOf.length; c++) {
      const r = Math.min(ringOf[c], rings);
      sums[r] += g[c];
      counts[r]++;
    }
  }
  if (counts[rings] === 0) return [];
  const interior = sums[rings] / counts[rings];
  return Array.from({ length: rings }, (_, r) => sums[r] / counts[r] - interior);
}

/**
 * Each cell's offset: its ring's excess, 0 in the interior (and everywhere for an empty excess).
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * deepStrictEqual([...edgeOffsets({ gridH: 3, gridW: 3 }, [0.25])], [0.25, 0.25, 0.25, 0.25, 0, 0.25, 0.25, 0.25, 0.25]);
 * ```
 */
export function edgeOffsets(grid: { gridH: number; gridW: number }, excess: readonly number[]): Float32Array {
  return Float32Array.from(cellRings(grid.gridH, grid.gridW), (r) => excess[r] ?? 0);
}
