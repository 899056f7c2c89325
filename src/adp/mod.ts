/**
 * TODO-DOC adp
 *
 * @module
 */
export { enroll, ENROLL_STAGES } from "./enroll.ts";
export type { EnrollOptions, EnrollProgress, EnrollStage } from "./enroll.ts";
export { prepareFrame } from "./frame_input.ts";
export type { FramePreparation, PatchInputSpec, PreparedFrame } from "./frame_input.ts";
export { loadProfile, saveProfile } from "./profile.ts";
export type { FusionSpec, ProfileMeta, StationProfile } from "./profile.ts";
export { createScorer } from "./scorer.ts";
export type { FrameScore, Scorer, ScorerOptions } from "./scorer.ts";
export { imageEmbeddings, runVisionPass, selectFromPass, VISION_BATCH } from "./vision_pass.ts";
export type { VisionPass } from "./vision_pass.ts";
