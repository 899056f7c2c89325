/**
 * Evaluation: datasets in the MVTec AD and VisA layouts (and image-label-only folders), and the
 * runner behind `adp eval` — the K-shot protocol, its tables, plots and resumable runs. The metrics
 * themselves are in `src/metrics`.
 *
 * @example The shots of a run, drawn as the paper's code draws them
 * ```ts
 * import { deepStrictEqual, strictEqual } from "node:assert/strict";
 * import { drawShots, VARIANT_INFO } from "./mod.ts";
 * const train = Array.from({ length: 10 }, (_, i) => `bottle/train/good/00${i}.png`);
 * const shots = drawShots(train, { k: 4, seed: 0, draw: "numpy" });
 * strictEqual(new Set(shots).size, 4);
 * deepStrictEqual(drawShots(train, { k: 4, seed: 0, draw: "numpy" }), shots);
 * strictEqual(VARIANT_INFO["plain-patch"].map, "plain");
 * ```
 *
 * @example The whole protocol, as `adp eval` runs it (needs a dataset and a checkpoint)
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
export type { FusionSpec } from "../adp/mod.ts";
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
export type { Draw, EvalSettings, MapSource, PixelSize, RunIdentity, Variant } from "./protocol.ts";
export { runEvaluation } from "./run_eval.ts";
export type { EvalDocument, EvalEvent, EvalOptions, EvalResult } from "./run_eval.ts";
export { RUN_FORMAT } from "./run_store.ts";
export type { RunMetrics, RunRecord, VariantRun } from "./run_store.ts";
export { METRICS, summarize } from "./summary.ts";
export type { EvalSummary, Metric, MetricMeans, ShotSummary, VariantSummary } from "./summary.ts";
