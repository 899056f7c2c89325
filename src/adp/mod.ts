/**
 * The ADP method for a station: enrollment from 1–16 good parts to a profile (the text branch's
 * learned concepts and self-tuned prototypes, the patch branch's memory, the calibrated fusion and
 * threshold), profiles saved and loaded as validated files, and scoring frames with a profile — one
 * vision pass shared by every station's scorer, frames prepared beforehand where the service decodes
 * them. The two branches live in `adp/text` and `adp/patch`; pseudo-anomalies in `adp/synth`.
 *
 * @example A frame prepared for CLIP alone
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { prepareFrame } from "./mod.ts";
 * const frame = { width: 4, height: 2, data: new Uint8Array(4 * 2 * 3).fill(255) };
 * const ready = prepareFrame(frame, { clip: { size: 2, mean: [0, 0, 0], std: [1, 1, 1] }, patchInputs: [] });
 * strictEqual(ready.clipPixels.length, 3 * 2 * 2);
 * ```
 *
 * @module
 */
export { normalQuantile } from "./calibration.ts";
export { enroll } from "./enroll.ts";
export type { CalibrationInputs, EnrollOptions } from "./enroll.ts";
export { ENROLL_STAGES } from "./enroll_progress.ts";
export type { EnrollProgress, EnrollStage } from "./enroll_progress.ts";
export { applyFeedback, FEEDBACK_DEFAULTS, feedbackThreshold, partRows } from "./feedback.ts";
export type { FeedbackFrame, FeedbackOptions, FeedbackSource, FeedbackThreshold } from "./feedback.ts";
export { prepareFrame } from "./frame_input.ts";
export type { FramePreparation, PatchInputSpec, PreparedFrame } from "./frame_input.ts";
export { loadProfile, PROFILE_FORMAT_VERSION, REVISION_KINDS, saveProfile } from "./profile.ts";
export type {
  CalibrationSpec,
  EnrollmentSpec,
  FeedbackRecord,
  FusionSpec,
  LabelledFrame,
  PatchSpec,
  ProfileMeta,
  ProfileRevision,
  StationProfile,
} from "./profile.ts";
export { checkRoi, insideRoi, maskFromImage, roiIsEmpty } from "./roi.ts";
export type { Polygon, RegionOfInterest, RoiMask } from "./roi.ts";
export { createScorer } from "./scorer.ts";
export type { FrameScore, Scorer, ScorerOptions } from "./scorer.ts";
export { imageEmbeddings, runVisionPass, selectFromPass, VISION_BATCH } from "./vision_pass.ts";
export type { VisionPass } from "./vision_pass.ts";
export type { HeldOutDistances } from "./held_out.ts";
export type { BranchScores } from "./fusion.ts";
