/**
 * TODO-DOC adp/patch
 *
 * @module
 */
export { anomalyMap, upsampleBilinear } from "./anomaly_map.ts";
export type { FloatMap } from "./anomaly_map.ts";
export {
  clipExtractor,
  clipPatchFeatures,
  concatFeatures,
  loadBackboneConfig,
  openOnnxExtractor,
  splitFeatures,
} from "./backbone.ts";
export type { BackboneInterpolation, BackboneResize, FeatureExtractor, IntensityMode } from "./backbone.ts";
export { resizeFrame } from "./frame_resize.ts";
export type { FrameResize } from "./frame_resize.ts";
export {
  clipPatchSettings,
  normalPatchBank,
  onnxPatchSettings,
  openPatchExtractor,
  openPatchMemory,
  patchInputSpec,
  testViewFeatures,
} from "./patch_branch.ts";
export type { PatchExtractorSpec, PatchSettings } from "./patch_branch.ts";
export type { PatchInputSpec } from "./frame_resize.ts";
export type { PatchFeatures } from "./patch_features.ts";
export { PatchMemory } from "./patch_memory.ts";
export type { ImageScoreRule, PatchScores } from "./patch_memory.ts";
export { viewOf, VIEWS } from "./views.ts";
export type { View } from "./views.ts";
