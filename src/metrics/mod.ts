/**
 * Detection metrics as pure functions over typed arrays: image and pixel AUROC, AUPRO to a false
 * positive limit, F1-max, ROC curves, and the three pixel metrics of a set of maps from one sort.
 * They know nothing of images or models, so enrollment (which ranks pseudo-anomalies) and the
 * evaluation (which ranks test images) share them.
 *
 * @example Metrics of five scored images
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { f1Max, imageAuroc } from "./mod.ts";
 * const scores = [0.1, 0.3, 0.35, 0.8, 0.9], labels = [0, 0, 1, 1, 1];
 * strictEqual(imageAuroc(scores, labels), 1);
 * strictEqual(f1Max(scores, labels), 1);
 * ```
 *
 * @module
 */
export { aupro } from "./aupro.ts";
export type { AuproOptions, MapSize } from "./aupro.ts";
export { imageAuroc, pixelAuroc } from "./auroc.ts";
export { f1Max } from "./f1_max.ts";
export { pixelMetrics } from "./pixel_metrics.ts";
export type { PixelMetrics } from "./pixel_metrics.ts";
export { rocCurve } from "./roc_curve.ts";
export type { RocCurve } from "./roc_curve.ts";
