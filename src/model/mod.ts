/**
 * TODO-DOC model
 *
 * @module
 */
export { ClipModel, loadClip } from "./clip_model.ts";
export type { LoadClipOptions, VisionOutputs } from "./clip_model.ts";
export { defaultPrecision, parsePrecision, PRECISIONS } from "./precision.ts";
export type { Precision } from "./precision.ts";
