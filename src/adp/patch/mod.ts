/**
 * The patch branch of ADP: feature extractors (an ONNX backbone described by a JSON file, or CLIP's
 * own vision tokens), patch features through views of a frame, the memory of normal patches and its
 * nearest-neighbour search, the anomaly map, and the settings a profile records so that the scorer
 * extracts and scores exactly as enrollment calibrated.
 *
 * @example A frame through a view, and its anomaly map
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { anomalyMap, viewOf } from "./mod.ts";
 * const frame = { width: 2, height: 1, data: Uint8Array.of(1, 1, 1, 2, 2, 2) };
 * strictEqual(viewOf(frame, "flipH").data[0], 2);
 * const map = anomalyMap(Float32Array.of(0, 1, 0, 0), { gridH: 2, gridW: 2, width: 8, height: 8, sigma: 0 });
 * strictEqual(map.width * map.height, 64);
 * ```
 *
 * @module
 */
export { anomalyMap, upsampleBilinear } from "./anomaly_map.ts";
export type { AnomalyMapOptions, FloatMap } from "./anomaly_map.ts";
export { backboneSha256, loadBackboneConfig, parseBackboneConfig } from "./backbone_config.ts";
export type { BackboneConfig } from "./backbone_config.ts";
export { clipExtractor, clipPatchFeatures } from "./clip_extractor.ts";
export type { ClipExtractorOptions } from "./clip_extractor.ts";
export { edgeOffsets, measureEdgeExcess } from "./edge_excess.ts";
export type { FeatureExtractor } from "./feature_extractor.ts";
export { resizeFrame } from "./frame_resize.ts";
export type { BackboneInterpolation, BackboneResize, FrameResize, PatchInputSpec } from "./frame_resize.ts";
export type { IntensityMode } from "./intensity.ts";
export { openOnnxExtractor } from "./onnx_extractor.ts";
export type { BackbonePrecision, OnnxExtractorOptions } from "./onnx_extractor.ts";
export { openPatchExtractor, openPatchMemory } from "./open_branch.ts";
export { concatFeatures, splitFeatures } from "./patch_features.ts";
export type { PatchFeatures } from "./patch_features.ts";
export { buildNearestGraph, imageScore, PATCH_DEFAULTS, PatchMemory } from "./patch_memory.ts";
export type { ImageScoreRule, PatchMemoryOptions, PatchScores } from "./patch_memory.ts";
export { clipPatchSettings, onnxPatchSettings, patchInputSpec } from "./settings.ts";
export type { PatchExtractorSpec, PatchSettings } from "./settings.ts";
export { extractViews, normalPatchBank, testViewFeatures } from "./view_features.ts";
export { viewOf, VIEWS, viewSourceCells } from "./views.ts";
export type { View } from "./views.ts";
