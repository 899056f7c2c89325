/**
 * Evaluation: datasets in the MVTec AD and VisA layouts (and image-label-only folders), and the
 * runner behind `adp eval` — the K-shot protocol, its tables, plots and resumable runs. The metrics
 * themselves are in `src/metrics`.
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
export { renderHistogramSvg } from "./histogram_svg.ts";
export { renderMapSheet } from "./map_sheet.ts";
export { numpyChoice } from "./numpy_choice.ts";
export { ABLATION_VARIANTS, DRAWS, drawShots, VARIANT_INFO, VARIANTS } from "./protocol.ts";
export type { Draw, EvalSettings, PixelSize, Variant } from "./protocol.ts";
export { renderTables, reportTables } from "./report_text.ts";
export { renderRocSvg } from "./roc_svg.ts";
export { runEvaluation } from "./run_eval.ts";
export type { EvalDocument, EvalEvent, EvalOptions, EvalResult } from "./run_eval.ts";
export type { RunMetrics, RunRecord } from "./run_store.ts";
export { meanStd, METRICS, summarize } from "./summary.ts";
export type { EvalSummary, Metric, ShotSummary, VariantSummary } from "./summary.ts";
