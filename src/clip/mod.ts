/**
 * CLIP checkpoints and what travels with them: the architecture registry, typed configs (read from
 * OpenCLIP's or Hugging Face's JSON, or inferred from tensor shapes), safetensors weights in either
 * layout mapped to one canonical form, the BPE tokenizer, CLIP's image preprocessing, the registry
 * of pretrained weights and downloads from the Hugging Face hub. The graphs built from the weights
 * are in `src/model`.
 *
 * @example An architecture and a frame preprocessed for it
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { getArchitecture, preprocessRgb } from "./mod.ts";
 * const config = getArchitecture("vit-b-16");
 * strictEqual(config.vision.imageSize / config.vision.patchSize, 14);
 * const frame = { width: 320, height: 240, data: new Uint8Array(320 * 240 * 3).fill(128) };
 * const pixels = preprocessRgb(frame, { size: config.vision.imageSize, mode: "crop" });
 * strictEqual(pixels.length, 3 * 224 * 224);
 * ```
 *
 * @example A random checkpoint written and opened again
 * ```ts
 * import { deepStrictEqual, strictEqual } from "node:assert/strict";
 * import { getArchitecture, openCheckpoint, writeRandomCheckpoint } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomCheckpoint(dir, { arch: "tiny", layout: "hf", seed: 1 });
 * using checkpoint = await openCheckpoint(dir);
 * strictEqual(checkpoint.layout, "hf");
 * deepStrictEqual(checkpoint.config.vision, getArchitecture("tiny").vision);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
export { getArchitecture, listArchitectures } from "./architectures.ts";
export type { ArchitectureName } from "./architectures.ts";
export { openCheckpoint } from "./checkpoint.ts";
export type { Checkpoint, OpenCheckpointOptions } from "./checkpoint.ts";
export type { CheckpointLayout, LayoutTensor } from "./checkpoint_layout.ts";
export { writeCheckpoint } from "./checkpoint_writer.ts";
export type { WriteCheckpointOptions, WrittenCheckpoint } from "./checkpoint_writer.ts";
export type {
  Activation,
  ClipConfig,
  ClipPreprocessConfig,
  ClipTextConfig,
  ClipVisionConfig,
} from "./config.ts";
export { pullModel } from "./hub_download.ts";
export type { FileChecksum, PulledFile, PullOptions, PullProgress, PullResult } from "./hub_download.ts";
export { preprocessImage, preprocessRgb } from "./preprocess.ts";
export type { PreprocessOptions, PreprocessRgbOptions } from "./preprocess.ts";
export { listPretrained } from "./pretrained.ts";
export type { PretrainedFiles, PretrainedModel } from "./pretrained.ts";
export { writeRandomCheckpoint } from "./random_checkpoint.ts";
export type { RandomCheckpoint, RandomCheckpointOptions } from "./random_checkpoint.ts";
export { openSafetensors, SAFETENSORS_DTYPES } from "./safetensors.ts";
export type {
  FloatDtype,
  RawTensor,
  SafetensorsDtype,
  SafetensorsEntry,
  SafetensorsReader,
} from "./safetensors.ts";
export { writeSafetensors } from "./safetensors_writer.ts";
export type { TensorToWrite, WriteSafetensorsOptions } from "./safetensors_writer.ts";
export { openTextCheckpoint } from "./text_checkpoint.ts";
export type { TextCheckpoint } from "./text_checkpoint.ts";
export { ClipTokenizer, loadTokenizer, writeTinyVocabulary } from "./tokenizer.ts";
export type { TokenizeOptions } from "./tokenizer.ts";
export { lazyTensor } from "./weights.ts";
export type {
  BlockWeights,
  ClipWeights,
  FloatTensor,
  LayerNormWeights,
  TextWeights,
  VisionWeights,
} from "./weights.ts";
