/**
 * Pseudo-anomaly synthesis: defective images made from a station's few normal ones, for ADP's
 * anomaly-aware concept and prompt self-tuning. A {@linkcode Synthesizer} makes one defect; the
 * procedural default paints CutPaste scars, DRAEM-style Perlin texture blends, scratches, stains
 * and colour spots; {@linkcode synthesizePseudoAnomalies} runs one over the normals and crops.
 * Where Stable Diffusion weights exist, {@linkcode createSdSynthesizer} makes the paper's SDEdit
 * pseudo-anomalies a batch at a time ({@linkcode makePseudoAnomalies}), alone or mixed with the
 * procedural ones.
 *
 * @example Sixteen pseudo-anomalies of two kinds
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { createProceduralSynthesizer, synthesizePseudoAnomalies } from "./mod.ts";
 * const data = new Uint8Array(160 * 160 * 3).map((_, i) => 80 + ((i * 31) % 60));
 * const anomalies = synthesizePseudoAnomalies([{ width: 160, height: 160, data }], {
 *   count: 16,
 *   seed: 42,
 *   synthesizer: createProceduralSynthesizer({ kinds: ["scratch", "stain"] }),
 *   crop: { size: 112, scale: [0.5, 1], ratio: [3 / 4, 4 / 3] },
 * });
 * strictEqual(anomalies.length, 16);
 * strictEqual(anomalies[0].mask.length, 112 * 112);
 * ```
 *
 * @module
 */
export { contactSheet } from "./contact_sheet.ts";
export type { ContactSheetOptions } from "./contact_sheet.ts";
export { estimateForeground } from "./foreground.ts";
export type { ForegroundOptions } from "./foreground.ts";
export { PERLIN_BOUND, perlinNoise } from "./perlin.ts";
export type { PerlinOptions } from "./perlin.ts";
export { createProceduralSynthesizer, DEFECT_KINDS } from "./procedural.ts";
export type { DefectKind, ProceduralOptions } from "./procedural.ts";
export { randomResizedCrop, randomResizedCropBox } from "./random_resized_crop.ts";
export type { CropBoxOptions, RandomResizedCropOptions, ResizedCrop } from "./random_resized_crop.ts";
export {
  DEFAULT_SYNTH_CROP,
  iteratePseudoAnomalies,
  makePseudoAnomalies,
  synthesizePseudoAnomalies,
} from "./synthesizer.ts";
export { batchOf, mixSynthesizers } from "./batch_synthesizer.ts";
export {
  createSdSynthesizer,
  openStableDiffusionOrFallBack,
  SD_ANOMALY_PROMPTS,
  SD_DEFAULTS,
  SD_MASK_LEVEL,
} from "./sd_synthesizer.ts";
export type { SdSynthesizerOptions } from "./sd_synthesizer.ts";
export { SynthesisWorker } from "./synthesis_worker.ts";
export { SYNTH_MODES } from "./pseudo_anomaly.ts";
export type {
  BatchSynthesizer,
  PseudoAnomaly,
  SynthesisItem,
  Synthesizer,
  SynthMode,
} from "./pseudo_anomaly.ts";
export type { BatchSynthesizeOptions, SynthCropOptions, SynthesizeOptions } from "./synthesizer.ts";
