/**
 * TODO-DOC clip
 *
 * @module
 */
export { getArchitecture, listArchitectures } from "./architectures.ts";
export { openCheckpoint } from "./checkpoint.ts";
export type { Checkpoint } from "./checkpoint.ts";
export { writeCheckpoint } from "./checkpoint_writer.ts";
export type { Activation, ClipConfig } from "./config.ts";
export type { CheckpointLayout } from "./checkpoint_layout.ts";
export { pullModel } from "./hub_download.ts";
export { preprocessImage, preprocessRgb } from "./preprocess.ts";
export type { PreprocessOptions } from "./preprocess.ts";
export { listPretrained } from "./pretrained.ts";
export { writeRandomCheckpoint } from "./random_checkpoint.ts";
export { openSafetensors } from "./safetensors.ts";
export { writeSafetensors } from "./safetensors_writer.ts";
export { ClipTokenizer, loadTokenizer } from "./tokenizer.ts";
export type { BlockWeights, ClipWeights, FloatTensor, TextWeights, VisionWeights } from "./weights.ts";
