/**
 * Scoring frames with a station profile: the ADP text score (eq. 7) against the self-tuned
 * prototypes, the patch score against the memory of normal patches, their calibrated fusion, the
 * verdict against the threshold, and an anomaly map over the frame.
 *
 * @module
 */
import { decodeImage, type Rgb8Image } from "../clip/image_decode.ts";
import type { ClipModel } from "../model/clip_model.ts";
import type { Device } from "../onnx/runtime.ts";
import { ProfileError } from "../errors.ts";
import { anomalyMap } from "./anomaly_map.ts";
import { clipPatchFeatures, concatFeatures, type FeatureExtractor } from "./backbone.ts";
import { imageEmbeddings, VISION_BATCH } from "./enroll.ts";
import type { PatchFeatures } from "./patch_features.ts";
import { preprocessRgb } from "../clip/preprocess.ts";
import { normalizeRows } from "../vector.ts";
import { fuseScores } from "./fusion.ts";
import { openPatchExtractor } from "./patch_branch.ts";
import { PatchMemory } from "./patch_memory.ts";
import type { StationProfile } from "./profile.ts";
import { textAnomalyScores } from "./self_tuning.ts";

/** The verdict on one frame. */
export interface FrameScore {
  /** Fused, standardised anomaly score: normal parts score near 0. */
  score: number;
  anomalous: boolean;
  threshold: number;
  /** P(anomalous) from the text branch (eq. 7). */
  textScore: number;
  /** The patch branch's image score (cosine distance to the nearest normal patch). */
  patchScore: number;
  /** Patch distances over the frame, [mapHeight, mapWidth], smoothed. */
  map: Float32Array;
  mapWidth: number;
  mapHeight: number;
}

/** A station's scorer. */
export interface Scorer {
  readonly profile: StationProfile;
  /** Scores encoded frames (PNG or JPEG). */
  score(images: Uint8Array[]): Promise<FrameScore[]>;
  /** Scores decoded frames. */
  scoreRgb(images: Rgb8Image[]): Promise<FrameScore[]>;
  /** Changes the decision threshold (in fused units) from now on. */
  setThreshold(threshold: number): void;
  dispose(): Promise<void>;
}

/** Options of {@linkcode createScorer}. */
export interface ScorerOptions {
  /** Longest side of the anomaly map; the frame's aspect ratio is kept. @default 256 */
  mapSize?: number;
  device?: Device;
}

/**
 * A scorer for `profile` on `clip`. Its patch extractor and memory open on the first frame.
 *
 * @throws {ProfileError} when the profile was enrolled with another model
 */
export function createScorer(clip: ClipModel, profile: StationProfile, opts: ScorerOptions = {}): Scorer {
  if (profile.meta.model.hash !== clip.hash) {
    throw new ProfileError(
      `Profile was enrolled with model ${profile.meta.model.id} (sha256 ${
        profile.meta.model.hash.slice(0, 12)
      }…), ` +
        `not the loaded ${clip.dir} (${clip.hash.slice(0, 12)}…): enroll the station again`,
      { file: profile.meta.station ?? "profile" },
    );
  }
  const mapSize = opts.mapSize ?? 256;
  let threshold = profile.meta.threshold;
  let parts: Promise<{ extractor: FeatureExtractor; memory: PatchMemory }> | undefined;
  const open = () =>
    parts ??= (async () => {
      const { patch } = profile.meta;
      const extractor = await openPatchExtractor(clip, patch.extractor, { device: opts.device });
      const memory = await PatchMemory.create(
        { n: 1, gridH: patch.count, gridW: 1, dim: patch.dim, data: profile.memory },
        { imageScore: patch.imageScore },
      ).catch(async (error) => {
        await extractor.dispose().catch(() => {});
        throw error;
      });
      return { extractor, memory };
    })().catch((error) => {
      // A failure to open (no room for a graph's temporary file, say) is not kept: the next frame tries again.
      parts = undefined;
      throw error;
    });

  const scoreRgb = async (images: Rgb8Image[]): Promise<FrameScore[]> => {
    if (!images.length) return [];
    const { extractor, memory } = await open();
    const { fusion, patch } = profile.meta;
    const { prototypes } = profile;
    const { embeddings, patchFeatures } = patch.extractor.kind === "clip"
      ? await clipPass(clip, images, patch.extractor.blocks)
      : { embeddings: await imageEmbeddings(clip, images), patchFeatures: await extractor.extract(images) };
    const text = textAnomalyScores(embeddings, prototypes.normal, prototypes.anomaly, clip.logitScale);
    const patches = await memory.score(patchFeatures);
    const cells = patches.gridH * patches.gridW;
    return images.map((image, i) => {
      const branch = { patch: patches.imageScores[i], text: text[i] };
      const score = fuseScores(branch, fusion);
      const scale = Math.min(1, mapSize / Math.max(image.width, image.height));
      const width = Math.max(1, Math.round(image.width * scale));
      const map = anomalyMap(patches.distances.subarray(i * cells, (i + 1) * cells), {
        gridH: patches.gridH,
        gridW: patches.gridW,
        width,
        height: Math.max(1, Math.round(image.height * scale)),
        sigma: patch.sigma * (width / patches.gridW),
      });
      return {
        score,
        anomalous: score >= threshold,
        threshold,
        textScore: branch.text,
        patchScore: branch.patch,
        map: map.data,
        mapWidth: map.width,
        mapHeight: map.height,
      };
    });
  };

  return {
    profile,
    scoreRgb,
    score: async (images) => scoreRgb(await Promise.all(images.map((b) => decodeImage(b)))),
    setThreshold: (t) => {
      if (!Number.isFinite(t)) throw new RangeError(`Threshold must be a finite number: got ${t}`);
      threshold = t;
    },
    dispose: async () => {
      if (!parts) return;
      const { extractor, memory } = await parts;
      await memory.dispose();
      await extractor.dispose();
    },
  };
}

/**
 * Image embeddings and CLIP patch features from one vision run per batch: with the CLIP extractor
 * both branches read the same forward pass, so scoring costs little more than the vision graph.
 */
async function clipPass(
  clip: ClipModel,
  images: readonly Rgb8Image[],
  blocks: number[],
): Promise<{ embeddings: Float64Array; patchFeatures: PatchFeatures }> {
  const { imageSize } = clip.config.vision;
  const { mean, std } = clip.config.preprocess;
  const e = clip.config.embedDim, per = 3 * imageSize * imageSize;
  const embeddings = new Float64Array(images.length * e);
  const parts: PatchFeatures[] = [];
  for (let start = 0; start < images.length; start += VISION_BATCH) {
    const batch = images.slice(start, start + VISION_BATCH);
    const pixels = new Float32Array(batch.length * per);
    batch.forEach((img, i) =>
      pixels.set(preprocessRgb(img, { size: imageSize, mode: "resize", mean, std }), i * per)
    );
    const out = await clip.runVision(pixels, batch.length, { features: true, blocks });
    embeddings.set(normalizeRows(out.features!, e).unit, start * e);
    parts.push(clipPatchFeatures(clip, out.tokens!, batch.length));
  }
  return { embeddings, patchFeatures: concatFeatures(parts) };
}
