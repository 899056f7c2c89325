/**
 * The patch branch as enrollment and scoring both use it: which extractor (CLIP vision tokens, or an
 * ONNX backbone described by a JSON file), which symmetries of the normal images join the memory,
 * through which views a frame is scored, whether a patch may be vouched for by its own frame
 * (self-reference), how patch distances become an image score. A profile records these settings;
 * the scorer reopens exactly the same extractor and scores exactly as calibration did.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import type { Rgb8Image } from "../../image/mod.ts";
import type { ClipModel } from "../../model/mod.ts";
import type { Device } from "../../onnx/mod.ts";
import { ProfileError } from "../../errors.ts";
import { type View, viewOf } from "./views.ts";
import {
  clipExtractor,
  type FeatureExtractor,
  loadBackboneConfig,
  openOnnxExtractor,
  splitFeatures,
} from "./backbone.ts";
import type { BackboneInterpolation, BackboneResize, IntensityMode } from "./backbone.ts";
import type { PatchInputSpec } from "./frame_resize.ts";
import type { PatchFeatures } from "./patch_features.ts";
import { type ImageScoreRule, PATCH_DEFAULTS, PatchMemory } from "./patch_memory.ts";

/** How patch features were extracted (the scorer must extract them the same way). */
export type PatchExtractorSpec =
  | { kind: "clip"; blocks: number[] }
  | {
    kind: "onnx";
    config: string;
    sha256: string;
    layers: string[];
    inputSize: number;
    resize: BackboneResize;
    interpolation: BackboneInterpolation;
    intensity: IntensityMode;
  };

/** Everything about the patch branch except what enrollment measures (grid, dim, memory size). */
export interface PatchSettings {
  extractor: PatchExtractorSpec;
  /** Views of each normal image in the memory. */
  views: View[];
  /** Views a frame is scored through, their distance grids averaged. */
  testViews: View[];
  /** Self-reference radius in grid cells; null: off. */
  selfRadius: number | null;
  imageScore: ImageScoreRule;
  /** Map blur in grid cells. */
  sigma: number;
}

/**
 * The CLIP default: the tokens of the blocks at one half and three quarters of the depth (mid-level
 * features localise defects better than the last block, which is shaped for the pooled embedding).
 * Frames are scored through the shared vision pass alone: a test view or a flipped memory would
 * cost a vision run or a fourfold search per frame, against the 10% that scoring may add to the
 * vision graph, and without pretrained CLIP weights here their benefit cannot be measured.
 */
export function clipPatchSettings(clip: ClipModel): PatchSettings {
  const layers = clip.config.vision.layers;
  const blocks = [...new Set([Math.round(layers * 0.5) - 1, Math.round(layers * 0.75) - 1])];
  return {
    extractor: { kind: "clip", blocks },
    views: ["identity"],
    testViews: ["identity"],
    selfRadius: null,
    imageScore: { kind: "max" },
    sigma: 0.25,
  };
}

/**
 * An ONNX backbone's settings: {@linkcode PATCH_DEFAULTS}, measured on MVTec bottle and magnetic
 * tile (bench/patch_quality.ts; the figures are in patch_memory.ts): its described outputs at its
 * described input size, intensity `auto`, the shots and their flips in the memory, the frame scored
 * through the same four views, self-reference radius 2, the largest patch distance as image score.
 */
export async function onnxPatchSettings(configPath: string): Promise<PatchSettings> {
  const config = await loadBackboneConfig(configPath);
  const sha256 = createHash("sha256").update(await Deno.readFile(config.onnx)).digest("hex");
  return {
    extractor: {
      kind: "onnx",
      config: resolve(configPath),
      sha256,
      layers: config.outputs,
      inputSize: config.size,
      resize: config.resize,
      interpolation: config.interpolation,
      intensity: PATCH_DEFAULTS.intensity,
    },
    views: [...PATCH_DEFAULTS.memoryViews],
    testViews: [...PATCH_DEFAULTS.testViews],
    selfRadius: PATCH_DEFAULTS.selfRadius,
    imageScore: PATCH_DEFAULTS.imageScore,
    // In grid cells: PATCH_DEFAULTS' 4 px at 224 on a 16-pixel grid (the proxy's stride).
    sigma: PATCH_DEFAULTS.sigma / 16,
  };
}

/** Opens the extractor a spec names; an ONNX backbone whose file changed is refused. */
export async function openPatchExtractor(
  clip: ClipModel,
  spec: PatchExtractorSpec,
  opts: { device?: Device } = {},
): Promise<FeatureExtractor> {
  if (spec.kind === "clip") return clipExtractor(clip, { blocks: spec.blocks });
  const config = await loadBackboneConfig(spec.config);
  const sha256 = createHash("sha256").update(await Deno.readFile(config.onnx)).digest("hex");
  if (sha256 !== spec.sha256) {
    throw new ProfileError(
      `The patch backbone ${config.onnx} changed since enrollment (sha256 ${
        sha256.slice(0, 12)
      }…, enrolled with ${spec.sha256.slice(0, 12)}…): enroll the station again`,
      { file: spec.config },
    );
  }
  return await openOnnxExtractor(config, {
    layers: spec.layers.map((name) => ({ name })),
    inputSize: { width: spec.inputSize, height: spec.inputSize },
    intensity: spec.intensity,
    pool: PATCH_DEFAULTS.pool,
    device: opts.device,
    log: () => {},
  });
}

/**
 * The frame input the patch branch reads pixels from, or undefined when it reads only the shared
 * vision pass (CLIP tokens, identity view). Prepared in the service's decode workers.
 */
export function patchInputSpec(clip: ClipModel, settings: PatchSettings): PatchInputSpec | undefined {
  const spec = settings.extractor;
  if (spec.kind === "onnx") {
    const { inputSize: side, resize, interpolation } = spec;
    return {
      key: `onnx:${spec.sha256.slice(0, 16)}:${side}:${resize}:${interpolation}`,
      width: side,
      height: side,
      resize,
      interpolation,
    };
  }
  if (settings.testViews.every((v) => v === "identity")) return undefined;
  const side = clip.config.vision.imageSize;
  // CLIP's own squash of the whole frame (clipExtractor's `resize` mode).
  return { key: `clip:${side}`, width: side, height: side, resize: "whole", interpolation: "bicubic" };
}

/** The memory for a bank of normal patches, searching as the settings say (on `device`, default auto). */
export async function openPatchMemory(
  bank: PatchFeatures | readonly PatchFeatures[],
  settings: Pick<PatchSettings, "imageScore" | "selfRadius">,
  device?: Device,
): Promise<PatchMemory> {
  return await PatchMemory.create(bank, {
    imageScore: settings.imageScore,
    selfRadius: settings.selfRadius ?? undefined,
    ...(device ? { session: { device } } : {}),
  });
}

/**
 * Patch features of frames through each test view, frame-major (frame 0's views in order, then
 * frame 1's), ready for `PatchMemory.scoreViews`.
 *
 * @param extractor the branch's extractor
 * @param inputs each frame at the extractor's input (`extractor.prepare`), or undefined when every
 *   view is `identity` and `identity` is given
 * @param views the test views
 * @param identity the frames' identity-view features when already extracted (the shared vision pass)
 * @returns `frames × views.length` single-frame features
 */
export async function testViewFeatures(
  extractor: FeatureExtractor,
  inputs: readonly Rgb8Image[] | undefined,
  views: readonly View[],
  identity?: PatchFeatures,
): Promise<PatchFeatures[]> {
  const given = identity ? splitFeatures(identity) : undefined;
  const frames = given?.length ?? inputs?.length ?? 0;
  const wanted: Rgb8Image[] = [];
  for (let f = 0; f < frames; f++) {
    for (const view of views) {
      if (view === "identity" && given) continue;
      if (!inputs) throw new RangeError(`Test view ${view} needs the frame's pixels`);
      wanted.push(view === "identity" ? inputs[f] : viewOf(inputs[f], view));
    }
  }
  const extracted = wanted.length ? await extractor.extractEach(wanted) : [];
  const out: PatchFeatures[] = [];
  let next = 0;
  for (let f = 0; f < frames; f++) {
    for (const view of views) out.push(view === "identity" && given ? given[f] : extracted[next++]);
  }
  return out;
}

/** Patch features of the normal images in every view, one PatchFeatures per image (all its views). */
export async function normalPatchBank(
  extractor: FeatureExtractor,
  normals: readonly Rgb8Image[],
  views: readonly View[],
): Promise<PatchFeatures[]> {
  const bank: PatchFeatures[] = [];
  for (const image of normals) {
    const prepared = extractor.prepare(image);
    bank.push(await extractor.extract(views.map((v) => viewOf(prepared, v))));
  }
  return bank;
}
