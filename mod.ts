/**
 * ADP Edge: few-shot visual anomaly detection (ADP, "Few-shot Anomaly Detection via
 * Personalization") for camera streams on NATS, in Deno on onnxruntime.
 *
 * This module is the library's public API; the `adp` command line is `src/cli.ts`. The examples
 * run as tests on the tiny oracle CLIP and the MVTec bottle images of `../shared`; with a real
 * checkpoint folder (`adp models pull ViT-B-16:openai`) the calls are the same.
 *
 * @example Zero-shot similarity with a checkpoint folder
 * ```ts
 * import { loadClip, preprocessImage } from "./mod.ts";
 * const oracle = "../shared/fixtures/clip-oracle";
 * const clip = await loadClip(`${oracle}/tiny-gelu-hf`, { vocab: `${oracle}/tokenizer`, log: () => {} });
 * const bytes = await Deno.readFile("../shared/datasets/mvtec-ad/bottle/train/good/000.png");
 * const pixels = await preprocessImage(bytes, { size: clip.config.vision.imageSize, mode: "crop" });
 * const image = await clip.encodeImage(pixels, 1);
 * const text = await clip.encodeText(["a photo of a flawless bottle.", "a photo of a damaged bottle."]);
 * console.log(clip.logitsPerImage(image, text));
 * await clip.dispose();
 * ```
 *
 * @example Enroll a station from good parts, then score frames
 * ```ts
 * import { createScorer, enroll, loadClip, loadProfile, saveProfile } from "./mod.ts";
 * const oracle = "../shared/fixtures/clip-oracle", bottle = "../shared/datasets/mvtec-ad/bottle";
 * const clip = await loadClip(`${oracle}/tiny-gelu-hf`, { vocab: `${oracle}/tokenizer`, log: () => {} });
 * const shots = await Promise.all(["000", "001"].map((n) => Deno.readFile(`${bottle}/train/good/${n}.png`)));
 * const profile = await enroll(clip, shots, { label: "bottle", steps: 2, onProgress: (p) => console.log(p.stage, p.percent) });
 * const file = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveProfile(file, profile);
 * const scorer = createScorer(clip, await loadProfile(file));
 * const [verdict] = await scorer.score([await Deno.readFile(`${bottle}/test/broken_large/000.png`)]);
 * console.log(verdict.score, verdict.threshold, verdict.anomalous);
 * await Deno.remove(file);
 * await clip.dispose();
 * ```
 *
 * @example Score frames of several stations with one model run (what the service does per batch)
 * ```ts
 * import { createScorer, decodeImage, enroll, loadClip, prepareFrame, runVisionPass, selectFromPass } from "./mod.ts";
 * const oracle = "../shared/fixtures/clip-oracle", bottle = "../shared/datasets/mvtec-ad/bottle";
 * const clip = await loadClip(`${oracle}/tiny-gelu-hf`, { vocab: `${oracle}/tokenizer`, log: () => {} });
 * const good = (n: string) => Deno.readFile(`${bottle}/train/good/${n}.png`);
 * const a = createScorer(clip, await enroll(clip, [await good("000"), await good("001")], { steps: 1 }));
 * const b = createScorer(clip, await enroll(clip, [await good("002"), await good("003")], { steps: 1 }));
 * const frames = [
 *   prepareFrame(await decodeImage(await good("004")), a.preparation),
 *   prepareFrame(await decodeImage(await good("005")), b.preparation),
 * ];
 * const pass = await runVisionPass(clip, frames, [...a.visionBlocks, ...b.visionBlocks]);
 * const [verdictA] = await a.scorePrepared([frames[0]], selectFromPass(pass, [0]));
 * const [verdictB] = await b.scorePrepared([frames[1]], selectFromPass(pass, [1]));
 * console.log(verdictA.score, verdictB.score);
 * await clip.dispose();
 * ```
 *
 * @module
 */
export {
  ClipModel,
  loadClip,
  type LoadClipOptions,
  type Precision,
  PRECISIONS,
  type VisionOutputs,
} from "./src/model/mod.ts";
export {
  type Checkpoint,
  type ClipConfig,
  ClipTokenizer,
  getArchitecture,
  listArchitectures,
  listPretrained,
  loadTokenizer,
  openCheckpoint,
  preprocessImage,
  type PreprocessOptions,
  preprocessRgb,
  pullModel,
  writeCheckpoint,
} from "./src/clip/mod.ts";
export { decodeImage, type Rgb8Image } from "./src/image/mod.ts";
export {
  applyFeedback,
  createScorer,
  enroll,
  ENROLL_STAGES,
  type EnrollOptions,
  type EnrollProgress,
  type EnrollStage,
  FEEDBACK_DEFAULTS,
  feedbackThreshold,
  type FramePreparation,
  type FrameScore,
  loadProfile,
  type PreparedFrame,
  prepareFrame,
  type ProfileMeta,
  type ProfileRevision,
  runVisionPass,
  saveProfile,
  type Scorer,
  type ScorerOptions,
  selectFromPass,
  type StationProfile,
  type VisionPass,
} from "./src/adp/mod.ts";
export {
  createProceduralSynthesizer,
  type PseudoAnomaly,
  SynthesisWorker,
  synthesizePseudoAnomalies,
  type Synthesizer,
} from "./src/adp/synth/mod.ts";
export { type Device, DEVICES, listProviders, type Provider } from "./src/onnx/mod.ts";
export {
  ConfigError,
  DownloadError,
  EnrollmentError,
  ErrorCode,
  GraphError,
  ImageError,
  OnnxRunError,
  ProcessorError,
  ProfileError,
  ShapeError,
  TokenizerError,
  WeightsError,
} from "./src/errors.ts";
export {
  anomaliesSubject,
  type AnomalyMessage,
  BusError,
  connectNats,
  decodeAnomaly,
  decodeEnrollProgress,
  decodeEnrollReply,
  decodeEnrollRequest,
  decodeResult,
  type EnrollProgressMessage,
  enrollProgressSubject,
  type EnrollReply,
  type EnrollRequest,
  enrollSubject,
  eventSubjects,
  FrameErrorReason,
  framesSubject,
  Header as StreamHeader,
  isStationId,
  MessageError,
  type NatsConnectOptions,
  type Processor,
  type ProcessorConfig,
  requestEnrollment,
  type ResultMessage,
  resultsSubject,
  startProcessor,
  type StatusReply,
  SubjectError,
} from "./src/stream/mod.ts";
export type {
  Activation,
  ArchitectureName,
  CheckpointLayout,
  ClipPreprocessConfig,
  ClipTextConfig,
  ClipVisionConfig,
  ClipWeights,
  FloatTensor,
  OpenCheckpointOptions,
  PreprocessRgbOptions,
  PretrainedModel,
  PullOptions,
  PullResult,
  TokenizeOptions,
  WriteCheckpointOptions,
  WrittenCheckpoint,
} from "./src/clip/mod.ts";
export type {
  CalibrationSpec,
  EnrollmentSpec,
  FeedbackFrame,
  FeedbackOptions,
  FeedbackRecord,
  FeedbackSource,
  FeedbackThreshold,
  FusionSpec,
  LabelledFrame,
  PatchSpec,
} from "./src/adp/mod.ts";
export type { Polygon, RegionOfInterest, RoiMask } from "./src/adp/mod.ts";
export type { DecodeOptions } from "./src/image/mod.ts";
export type {
  EnrollRefusal,
  HeatmapLimits,
  HeatmapRef,
  HeatmapRetention,
  HeatmapUsage,
  MapSummary,
  ModelRef,
  StationStatus,
} from "./src/stream/mod.ts";
export type { PatchInputSpec } from "./src/adp/patch/mod.ts";
export type { ProceduralOptions, SynthesizeOptions } from "./src/adp/synth/mod.ts";
export type { Random } from "./src/random.ts";
export type { AnomalyRegion, BusConnection, LatencySummary } from "./src/stream/mod.ts";
export type {
  FloatDtype,
  LayoutTensor,
  PretrainedFiles,
  PulledFile,
  PullProgress,
  TextWeights,
  VisionWeights,
} from "./src/clip/mod.ts";
export type { ResizeMode } from "./src/image/mod.ts";
export type { FrameResize, ImageScoreRule, PatchExtractorSpec, View } from "./src/adp/patch/mod.ts";
export type { DefectKind, SynthCropOptions } from "./src/adp/synth/mod.ts";
export type { BlockWeights, FileChecksum, LayerNormWeights } from "./src/clip/mod.ts";
export type { BackboneInterpolation, BackboneResize, IntensityMode } from "./src/adp/patch/mod.ts";
export { VIEWS } from "./src/adp/patch/mod.ts";
export { DEFECT_KINDS } from "./src/adp/synth/mod.ts";
export { SYNTH_MODES } from "./src/adp/synth/mod.ts";
export type { SynthMode } from "./src/adp/synth/mod.ts";
export { loadStableDiffusion } from "./src/diffusion/mod.ts";
export type {
  DiffusionSchedulerConfig,
  Dims4,
  LoadStableDiffusionOptions,
  SdeditOptions,
  StableDiffusion,
  StableDiffusionConfig,
} from "./src/diffusion/mod.ts";
export type { EnrollAccepted, RequestEnrollmentOptions } from "./src/stream/mod.ts";
export type { CalibrationInputs, HeldOutDistances } from "./src/adp/mod.ts";
export type { BranchScores } from "./src/adp/mod.ts";
export type { ProcessorTelemetry, ThresholdSetReply, ThresholdSetRequest } from "./src/stream/mod.ts";
