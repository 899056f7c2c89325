/**
 * ADP Edge: few-shot visual anomaly detection (ADP, "Few-shot Anomaly Detection via
 * Personalization") for camera streams on NATS, in Deno on onnxruntime.
 *
 * This module is the library's public API; the `adp` command line is `src/cli.ts`.
 *
 * @example Zero-shot similarity with a checkpoint folder
 * ```ts ignore
 * import { loadClip, preprocessImage } from "./mod.ts";
 * const clip = await loadClip("models/ViT-B-16--openai", { device: "auto" });
 * const pixels = await preprocessImage(await Deno.readFile("part.png"), { size: 224, mode: "crop" });
 * const image = await clip.encodeImage(pixels, 1);
 * const text = await clip.encodeText(["a photo of a flawless bottle.", "a photo of a damaged bottle."]);
 * console.log(clip.logitsPerImage(image, text));
 * await clip.dispose();
 * ```
 *
 * @example Enroll a station from good parts, then score frames
 * ```ts ignore
 * import { createScorer, enroll, loadClip, saveProfile } from "./mod.ts";
 * const clip = await loadClip("models/ViT-B-16--openai");
 * const shots = await Promise.all(["a.png", "b.png"].map((f) => Deno.readFile(f)));
 * const profile = await enroll(clip, shots, { label: "bottle", onProgress: (p) => console.log(p.stage, p.percent) });
 * await saveProfile("line-1.safetensors", profile);
 * const [verdict] = await createScorer(clip, profile).score([await Deno.readFile("frame.png")]);
 * console.log(verdict.score, verdict.anomalous);
 * ```
 *
 * @example Score frames of several stations with one model run (what the service does per batch)
 * ```ts ignore
 * import { createScorer, decodeImage, prepareFrame, runVisionPass, selectFromPass } from "./mod.ts";
 * const a = createScorer(clip, profileA), b = createScorer(clip, profileB);
 * const frames = [prepareFrame(await decodeImage(bytesA), a.preparation), prepareFrame(await decodeImage(bytesB), b.preparation)];
 * const pass = await runVisionPass(clip, frames, [...a.visionBlocks, ...b.visionBlocks]);
 * const [verdictA] = await a.scorePrepared([frames[0]], selectFromPass(pass, [0]));
 * const [verdictB] = await b.scorePrepared([frames[1]], selectFromPass(pass, [1]));
 * ```
 *
 * @module
 */
export { ClipModel, loadClip } from "./src/model/clip_model.ts";
export type { LoadClipOptions, VisionOutputs } from "./src/model/clip_model.ts";
export { preprocessImage, preprocessRgb } from "./src/clip/preprocess.ts";
export type { PreprocessOptions } from "./src/clip/preprocess.ts";
export { decodeImage } from "./src/clip/image_decode.ts";
export type { Rgb8Image } from "./src/clip/image_decode.ts";
export { ClipTokenizer, loadTokenizer } from "./src/clip/tokenizer.ts";
export { openCheckpoint } from "./src/clip/checkpoint.ts";
export type { Checkpoint } from "./src/clip/checkpoint.ts";
export { writeRandomCheckpoint } from "./src/clip/tiny_checkpoint.ts";
export { writeCheckpoint } from "./src/clip/checkpoint_writer.ts";
export { getArchitecture, listArchitectures } from "./src/clip/architectures.ts";
export { pullModel } from "./src/clip/hub_download.ts";
export { listPretrained } from "./src/clip/pretrained.ts";
export type { ClipConfig } from "./src/clip/config.ts";
export { enroll, ENROLL_STAGES } from "./src/adp/enroll.ts";
export type { EnrollOptions, EnrollProgress, EnrollStage } from "./src/adp/enroll.ts";
export { createScorer } from "./src/adp/scorer.ts";
export type { FrameScore, Scorer, ScorerOptions } from "./src/adp/scorer.ts";
export { prepareFrame } from "./src/adp/frame_input.ts";
export type { FramePreparation, PreparedFrame } from "./src/adp/frame_input.ts";
export { runVisionPass, selectFromPass } from "./src/adp/vision_pass.ts";
export type { VisionPass } from "./src/adp/vision_pass.ts";
export { loadProfile, saveProfile } from "./src/adp/profile.ts";
export type { ProfileMeta, StationProfile } from "./src/adp/profile.ts";
export { createProceduralSynthesizer, synthesizePseudoAnomalies } from "./src/adp/synth/mod.ts";
export type { PseudoAnomaly, Synthesizer } from "./src/adp/synth/mod.ts";
export { DEVICES, listProviders } from "./src/onnx/runtime.ts";
export type { Device, Provider } from "./src/onnx/runtime.ts";
export * from "./src/errors.ts";
export {
  anomaliesSubject,
  BusError,
  connectNats,
  decodeAnomaly,
  decodeEnrollProgress,
  decodeEnrollReply,
  decodeEnrollRequest,
  decodeResult,
  enrollProgressSubject,
  enrollSubject,
  eventSubjects,
  FrameErrorReason,
  framesSubject,
  Header as StreamHeader,
  isStationId,
  MessageError,
  resultsSubject,
  startProcessor,
  SubjectError,
} from "./src/stream/mod.ts";
export type {
  AnomalyMessage,
  EnrollProgressMessage,
  EnrollReply,
  EnrollRequest,
  NatsConnectOptions,
  Processor,
  ProcessorConfig,
  ResultMessage,
  StatusReply,
} from "./src/stream/mod.ts";
