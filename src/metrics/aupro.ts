/**
 * AUPRO: the area under the per-region-overlap curve up to a false-positive rate, normalised — the
 * MVTec AD localisation metric (Bergmann et al., "The MVTec Anomaly Detection Dataset", IJCV 2021;
 * its reference code `pro_curve_util.py` and `generic_util.trapezoid`).
 *
 * - Regions: the connected components (8-connectivity) of every ground-truth mask.
 * - At a threshold t, a pixel is predicted anomalous when its score is ≥ t. The false-positive rate
 *   is the share of all defect-free pixels (of every image, good images included) so predicted; the
 *   per-region overlap (PRO) is the mean over all regions of the share of the region so predicted.
 * - The curve has one point per distinct score (ties move together), from (0, 0). It is integrated
 *   with the trapezoidal rule up to `maxFpr`, the last segment cut at `maxFpr` with the PRO
 *   interpolated linearly, and divided by `maxFpr`, so a perfect map scores 1.
 *
 * The defect-free and the defect scores are sorted separately (radix, float32) and merged in one
 * descending sweep (`_pixel_sweep.ts`, which `pixelMetrics` shares); false positives are
 * counted in integers, and the overlap sum adds 1/|region| per pixel with compensated summation, so
 * tens of millions of pixels stay exact to ~1e-15.
 *
 * @module
 */
import { type AuproOptions, pixelSweep } from "./_pixel_sweep.ts";

export type { AuproOptions, MapSize } from "./_pixel_sweep.ts";

/**
 * The normalised area under the PRO curve up to `maxFpr`.
 *
 * @param scores every image's anomaly map, laid end to end (row-major per image)
 * @param masks the ground truth in the same layout: non-zero marks a defect pixel
 * @param opts the maps' sizes and the integration limit
 * @returns AUPRO in [0, 1]
 * @throws {ShapeError} when the sizes do not account for every score, or masks and scores differ in length
 * @throws {ConfigError} when a score is NaN, the limit is outside (0, 1], or the masks hold no
 *   defect pixel or no defect-free pixel
 *
 * @example One 2×2 image, one defect pixel ranked first
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const scores = Float32Array.of(0.9, 0.1, 0.2, 0.3);
 * const masks = Uint8Array.of(1, 0, 0, 0);
 * strictEqual(aupro(scores, masks, { width: 2, height: 2 }), 1);
 * ```
 */
export function aupro(scores: Float32Array, masks: Uint8Array, opts: AuproOptions): number {
  return pixelSweep(scores, masks, opts).aupro;
}
