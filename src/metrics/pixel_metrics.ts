/**
 * The three pixel metrics of a set of maps — pixel AUROC, AUPRO and pixel F1-max — from one sort of
 * the pixels instead of three: on 83 bottle maps at 900×900 (67 million pixels) that is about a
 * third of the time. Each equals its own function (`pixelAuroc` in auroc.ts, `aupro` in aupro.ts,
 * `f1Max` in f1_max.ts) exactly; the tests check that.
 *
 * @module
 */
import type { AuproOptions } from "./aupro.ts";
import { pixelSweep } from "./_pixel_sweep.ts";

/** The pixel metrics of one evaluation. */
export interface PixelMetrics {
  /** AUROC over every pixel of every map. */
  pixelAuroc: number;
  /** Normalised area under the per-region-overlap curve up to the false positive limit. */
  aupro: number;
  /** Best F1 over all thresholds on pixels. */
  pixelF1Max: number;
}

/**
 * Pixel AUROC, AUPRO and pixel F1-max of maps against masks.
 *
 * @param scores every image's anomaly map, laid end to end
 * @param masks the ground truth in the same layout: non-zero marks a defect pixel
 * @param opts the maps' sizes and AUPRO's FPR limit (default 0.3)
 * @returns the three metrics
 * @throws {ShapeError} when the sizes do not account for every score, or masks and scores differ in length
 * @throws {ConfigError} when a score is NaN, the limit is outside (0, 1], or the masks hold no
 *   defect pixel or no defect-free pixel
 *
 * @example A 2×2 map with its one defect pixel second
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const m = pixelMetrics(Float32Array.of(0.2, 0.9, 0.5, 0.1), Uint8Array.of(0, 0, 1, 0), { width: 2, height: 2 });
 * deepStrictEqual(m, { pixelAuroc: 2 / 3, aupro: 0, pixelF1Max: 2 / 3 });
 * ```
 */
export function pixelMetrics(scores: Float32Array, masks: Uint8Array, opts: AuproOptions): PixelMetrics {
  const s = pixelSweep(scores, masks, opts);
  return { pixelAuroc: s.auroc, aupro: s.aupro, pixelF1Max: s.f1Max };
}
