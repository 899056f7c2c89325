/**
 * TODO-DOC adp/patch
 *
 * @module
 */
export { anomalyMap, upsampleBilinear } from "./anomaly_map.ts";
export type { FloatMap } from "./anomaly_map.ts";
export { loadBackboneConfig, parseBackboneConfig } from "./backbone_config.ts";
export type { BackboneConfig } from "./backbone_config.ts";
export { clipExtractor, clipPatchFeatures } from "./clip_extractor.ts";
export type { ClipExtractorOptions } from "./clip_extractor.ts";
export type { FeatureExtractor } from "./feature_extractor.ts";
export { resizeFrame } from "./frame_resize.ts";
export type { BackboneInterpolation, BackboneResize, FrameResize, PatchInputSpec } from "./frame_resize.ts";
export type { IntensityMode } from "./intensity.ts";
export { openOnnxExtractor } from "./onnx_extractor.ts";
export type { OnnxExtractorOptions } from "./onnx_extractor.ts";
export { openPatchExtractor, openPatchMemory } from "./open_branch.ts";
export { concatFeatures, splitFeatures } from "./patch_features.ts";
export type { PatchFeatures } from "./patch_features.ts";
export { PatchMemory } from "./patch_memory.ts";
export type { ImageScoreRule, PatchScores } from "./patch_memory.ts";
export { clipPatchSettings, onnxPatchSettings, patchInputSpec } from "./settings.ts";
export type { PatchExtractorSpec, PatchSettings } from "./settings.ts";
export { normalPatchBank, testViewFeatures } from "./view_features.ts";
export { viewOf, VIEWS } from "./views.ts";
export type { View } from "./views.ts";
