/**
 * Evaluation: datasets in the MVTec AD and VisA layouts, the metrics (image and pixel AUROC, AUPRO
 * to 30 % FPR, F1-max, ROC curves) as pure functions over typed arrays, and the runner behind
 * `adp eval` — the K-shot protocol, its tables, plots and resumable runs.
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
 * @example The whole protocol, as `adp eval` runs it
 * ```ts ignore
 * import { runEvaluation } from "./mod.ts";
 * const { document } = await runEvaluation({
 *   data: "../shared/datasets/mvtec-ad", categories: ["bottle"], shots: [2, 8], seeds: [0, 1, 2],
 *   variants: ["plain-patch"], backbone: "../shared/models/proxy/backbone.json",
 *   labelPrompts: false, draw: "numpy", pixelSize: 224,
 * }, { out: "out/eval" });
 * console.log(document.categories.bottle["8"].imageAuroc);
 * ```
 *
 * @module
 */
export { imageAuroc, pixelAuroc } from "./auroc.ts";
export { aupro } from "./aupro.ts";
export type { AuproOptions, MapSize } from "./aupro.ts";
export { f1Max } from "./f1_max.ts";
export { pixelMetrics } from "./pixel_metrics.ts";
export type { PixelMetrics } from "./pixel_metrics.ts";
export { rocCurve } from "./roc_curve.ts";
export type { RocCurve } from "./roc_curve.ts";
export { numpyChoice } from "./numpy_choice.ts";
export {
  GOOD,
  loadImage,
  loadMask,
  readDataset,
  readMvtecDataset,
  readVisaDataset,
  sampleShots,
  VISA_DEFECT,
  VISA_SPLIT_CSV,
} from "./datasets.ts";
export type { AnomalyDataset, TestSample } from "./datasets.ts";
export { ABLATION_VARIANTS, DRAWS, drawShots, VARIANT_INFO, VARIANTS } from "./protocol.ts";
export type { Draw, EvalSettings, PixelSize, Variant } from "./protocol.ts";
export { runEvaluation } from "./run_eval.ts";
export type { EvalDocument, EvalEvent, EvalOptions, EvalResult } from "./run_eval.ts";
export { meanStd, METRICS, summarize } from "./summary.ts";
export type { EvalSummary, Metric, ShotSummary, VariantSummary } from "./summary.ts";
export { renderTables, reportTables } from "./report_text.ts";
export { renderRocSvg } from "./roc_svg.ts";
export { renderHistogramSvg } from "./histogram_svg.ts";
export { renderMapSheet } from "./map_sheet.ts";
export type { RunMetrics, RunRecord } from "./run_store.ts";
