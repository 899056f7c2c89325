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
export { ClipModel, loadClip, type LoadClipOptions, type VisionOutputs } from "./src/model/mod.ts";
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
  writeRandomCheckpoint,
} from "./src/clip/mod.ts";
export { decodeImage, type Rgb8Image } from "./src/image/mod.ts";
export {
  createScorer,
  enroll,
  ENROLL_STAGES,
  type EnrollOptions,
  type EnrollProgress,
  type EnrollStage,
  type FramePreparation,
  type FrameScore,
  loadProfile,
  type PreparedFrame,
  prepareFrame,
  type ProfileMeta,
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
  synthesizePseudoAnomalies,
  type Synthesizer,
} from "./src/adp/synth/mod.ts";
export { type Device, DEVICES, listProviders, type Provider } from "./src/onnx/mod.ts";
export * from "./src/errors.ts";
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
  type ResultMessage,
  resultsSubject,
  startProcessor,
  type StatusReply,
  SubjectError,
} from "./src/stream/mod.ts";
