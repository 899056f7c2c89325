/**
 * Scoring frames with a station profile: the ADP text score (eq. 7) against the self-tuned
 * prototypes, the patch score against the memory of normal patches (through the profile's test
 * views, with self-reference where it is on), their calibrated fusion, the verdict against the
 * threshold, and an anomaly map over the frame.
 *
 * Scoring has two phases so that a service scoring many stations runs the model once per batch:
 * frames are prepared (`prepareFrame`, pure: the service does it in its decode workers), one vision
 * pass runs over the frames of every station (`runVisionPass`), and each station's scorer takes its
 * frames' rows of that pass (`scorePrepared`). `score` and `scoreRgb` do all three for one station.
 *
 * @module
 */
import { decodeImage, type Rgb8Image } from "../image/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import type { Device } from "../onnx/mod.ts";
import { ProfileError } from "../errors.ts";
import {
  anomalyMap,
  type FeatureExtractor,
  type ImageScoreRule,
  normalPatchBank,
  openPatchExtractor,
  openPatchMemory,
  patchInputSpec,
  type PatchMemory,
  type PatchScores,
  testViewFeatures,
} from "./patch/mod.ts";
import { type FramePreparation, type PreparedFrame, prepareFrame } from "./frame_input.ts";
import { fuseScores } from "./fusion.ts";
import type { FusionSpec, StationProfile } from "./profile.ts";
import { maskPatchScores, roiIsEmpty, type RoiMasks, roiMasks } from "./roi.ts";
import { textAnomalyScores } from "./text/mod.ts";
import { clipPreparation, passPatchFeatures, runVisionPass, type VisionPass } from "./vision_pass.ts";

/** The verdict on one frame. */
export interface FrameScore {
  /** Fused, standardised anomaly score: normal parts score near 0. */
  score: number;
  /** Whether `score` reached the threshold. */
  anomalous: boolean;
  /** The threshold the verdict was taken at. */
  threshold: number;
  /** P(anomalous) from the text branch (eq. 7). */
  textScore: number;
  /** The patch branch's image score (cosine distance to the nearest normal patch, views averaged). */
  patchScore: number;
  /** Patch distances over the frame, [mapHeight, mapWidth], smoothed. */
  map: Float32Array;
  /** The map's width, at most the scorer's `mapSize`. */
  mapWidth: number;
  /** The map's height. */
  mapHeight: number;
}

/** A station's scorer. */
export interface Scorer {
  /** The profile it scores with. */
  readonly profile: StationProfile;
  /** What each frame must be made into before `scorePrepared`. */
  readonly preparation: FramePreparation;
  /** The vision blocks whose tokens this scorer reads from a shared pass. */
  readonly visionBlocks: readonly number[];
  /** Scores encoded frames (PNG or JPEG). */
  score(images: Uint8Array[]): Promise<FrameScore[]>;
  /** Scores decoded frames. */
  scoreRgb(images: Rgb8Image[]): Promise<FrameScore[]>;
  /**
   * Scores prepared frames.
   *
   * @param frames frames made by `prepareFrame` with (at least) this scorer's `preparation`
   * @param pass a vision pass over exactly these frames keeping `visionBlocks`; run here when absent
   * @throws {RangeError} when the pass does not match the frames or a frame lacks a patch input
   */
  scorePrepared(frames: readonly PreparedFrame[], pass?: VisionPass): Promise<FrameScore[]>;
  /**
   * Each frame's patch features in every memory view, `[views·gridH·gridW, dim]` as the memory's
   * rows are laid out: what a frame labelled good adds to the memory (feedback.ts).
   */
  memoryFeatures(images: Rgb8Image[]): Promise<Float32Array[]>;
  /** Changes the decision threshold (in fused units) from now on. */
  setThreshold(threshold: number): void;
  /** Releases the patch extractor and memory (the model stays open). */
  dispose(): Promise<void>;
}

/** Options of {@linkcode createScorer}. */
export interface ScorerOptions {
  /** Longest side of the anomaly map; the frame's aspect ratio is kept. @default 256 */
  mapSize?: number;
  /** Where the patch extractor and the memory search run. @default {the CLIP model's provider} */
  device?: Device;
}

/**
 * A scorer for `profile` on `clip`. Its patch extractor and memory open on the first frame.
 *
 * @throws {ProfileError} when the profile was enrolled with another model
 */
export function createScorer(clip: ClipModel, profile: StationProfile, opts: ScorerOptions = {}): Scorer {
  checkSameModel(clip, profile);
  const mapSize = opts.mapSize ?? 256;
  const { patch, fusion } = profile.meta;
  const inputSpec = patchInputSpec(clip, patch);
  const preparation: FramePreparation = {
    clip: clipPreparation(clip),
    patchInputs: inputSpec ? [inputSpec] : [],
  };
  const visionBlocks = patch.extractor.kind === "clip" ? [...patch.extractor.blocks] : [];
  let threshold = profile.meta.threshold;
  const { roi } = profile.meta;
  // Without a patch input the CLIP extractor reads the vision pass: the frame squashed whole.
  const side = clip.config.vision.imageSize;
  const masks = roi && !roiIsEmpty(roi)
    ? roiMasks(roi, {
      resize: inputSpec?.resize ?? "whole",
      inputWidth: inputSpec?.width ?? side,
      inputHeight: inputSpec?.height ?? side,
    })
    : undefined;
  // Beside the model by default: it keeps the CPU free for decoding. On WebGPU the placement measured
  // the same either way (bench/gpu-check.sh --patch-device); on CUDA it is unmeasured.
  const parts = lazyPatchParts(clip, profile, opts.device ?? clip.provider);

  const scorePrepared = async (
    frames: readonly PreparedFrame[],
    given?: VisionPass,
  ): Promise<FrameScore[]> => {
    if (!frames.length) return [];
    const { extractor, memory } = await parts.open();
    const pass = given ?? await runVisionPass(clip, frames, visionBlocks);
    if (pass.n !== frames.length) {
      throw new RangeError(`The vision pass holds ${pass.n} frames, not the ${frames.length} given`);
    }
    const { prototypes } = profile;
    const text = textAnomalyScores(pass.embeddings, prototypes.normal, prototypes.anomaly, clip.logitScale);
    const identity = visionBlocks.length ? passPatchFeatures(clip, pass, visionBlocks) : undefined;
    const inputs = inputSpec ? framePatchInputs(frames, inputSpec.key) : undefined;
    const features = await testViewFeatures(extractor, inputs, patch.testViews, identity);
    const patches = await memory.scoreViews(features, patch.testViews);
    return frames.map((frame, i) =>
      frameScore(frame, { patch: patches[i], text: text[i] }, {
        fusion,
        threshold,
        mapSize,
        sigma: patch.sigma,
        masks: masks && { ...masks, rule: patch.imageScore },
      })
    );
  };
  const scoreRgb = (images: Rgb8Image[]) =>
    scorePrepared(images.map((image) => prepareFrame(image, preparation)));

  return {
    profile,
    preparation,
    visionBlocks,
    scorePrepared,
    scoreRgb,
    score: async (images) => scoreRgb(await Promise.all(images.map((b) => decodeImage(b)))),
    memoryFeatures: async (images) => {
      const { extractor } = await parts.open();
      const bank = await normalPatchBank(extractor, images, patch.views);
      return bank.map((f) => Float32Array.from(f.data));
    },
    setThreshold: (t) => {
      if (!Number.isFinite(t)) throw new RangeError(`Threshold must be a finite number: got ${t}`);
      threshold = t;
    },
    dispose: () => parts.dispose(),
  };
}

/** Refuses a profile enrolled with another model than `clip`. */
function checkSameModel(clip: ClipModel, profile: StationProfile): void {
  if (profile.meta.model.hash === clip.hash) return;
  throw new ProfileError(
    `Profile was enrolled with model ${profile.meta.model.id} (sha256 ${
      profile.meta.model.hash.slice(0, 12)
    }…), ` +
      `not the loaded ${clip.dir} (${clip.hash.slice(0, 12)}…): enroll the station again`,
    { file: profile.meta.station ?? "profile" },
  );
}

/** The patch branch's open extractor and memory. */
interface PatchParts {
  extractor: FeatureExtractor;
  memory: PatchMemory;
}

/** The patch branch's extractor and memory, opened on the first call of `open` and kept. */
function lazyPatchParts(
  clip: ClipModel,
  profile: StationProfile,
  device: Device,
): { open(): Promise<PatchParts>; dispose(): Promise<void> } {
  const { patch } = profile.meta;
  let parts: Promise<PatchParts> | undefined;
  const open = () =>
    parts ??= (async () => {
      const extractor = await openPatchExtractor(clip, patch.extractor, { device });
      const memory = await openPatchMemory(
        { n: 1, gridH: patch.count, gridW: 1, dim: patch.dim, data: profile.memory },
        patch,
        { device, precision: clip.precision },
      ).catch(async (error) => {
        await extractor.dispose().catch(() => {});
        throw error;
      });
      return { extractor, memory };
    })().catch((error) => {
      // A failure to open (a backbone description or model that is unreadable or changed since
      // enrollment, a session that cannot be created) is not kept: the next frame tries again.
      parts = undefined;
      throw error;
    });
  const dispose = async () => {
    if (!parts) return;
    const { extractor, memory } = await parts;
    await memory.dispose();
    await extractor.dispose();
  };
  return { open, dispose };
}

/** Each frame's prepared input for the patch extractor. */
function framePatchInputs(frames: readonly PreparedFrame[], key: string): Rgb8Image[] {
  return frames.map((f, i) => {
    const input = f.patchInputs[key];
    if (!input) throw new RangeError(`Frame ${i} was not prepared for patch input ${key}`);
    return input;
  });
}

/**
 * One frame's verdict from its branch scores, and its anomaly map at most `mapSize` on a side.
 * With a region of interest, the excluded cells' distances are 0 before the image score is taken
 * and the map is blurred (an excluded defect neither flags the frame nor bleeds into the inspected
 * area), and the map's excluded pixels are exactly 0.
 */
function frameScore(
  frame: { width: number; height: number },
  branches: { patch: PatchScores; text: number },
  opts: {
    fusion: FusionSpec;
    threshold: number;
    mapSize: number;
    sigma: number;
    masks?: RoiMasks & { rule: ImageScoreRule };
  },
): FrameScore {
  const patch = opts.masks
    ? maskPatchScores(branches.patch, opts.masks.cells(frame, branches.patch), opts.masks.rule)
    : branches.patch;
  const { distances, gridH, gridW } = patch;
  const branch = { patch: patch.imageScores[0], text: branches.text };
  const score = fuseScores(branch, opts.fusion);
  const scale = Math.min(1, opts.mapSize / Math.max(frame.width, frame.height));
  const width = Math.max(1, Math.round(frame.width * scale));
  const map = anomalyMap(distances, {
    gridH,
    gridW,
    width,
    height: Math.max(1, Math.round(frame.height * scale)),
    sigma: opts.sigma * (width / gridW),
  });
  if (opts.masks) {
    const inside = opts.masks.pixels(map, frame);
    for (let i = 0; i < inside.length; i++) if (!inside[i]) map.data[i] = 0;
  }
  return {
    score,
    anomalous: score >= opts.threshold,
    threshold: opts.threshold,
    textScore: branch.text,
    patchScore: branch.patch,
    map: map.data,
    mapWidth: map.width,
    mapHeight: map.height,
  };
}
