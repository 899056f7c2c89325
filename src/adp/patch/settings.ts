/**
 * The patch branch's settings, as enrollment chooses them and a profile records them: which extractor
 * (CLIP vision tokens, or an ONNX backbone described by a JSON file), which symmetries of the normal
 * images join the memory, through which views a frame is scored, whether a patch may be vouched for
 * by its own frame (self-reference), how patch distances become an image score — and the frame input
 * they ask the service's decode workers to prepare. The scorer reopens exactly the same extractor
 * (open_branch.ts) and scores exactly as calibration did.
 *
 * @module
 */
import { resolve } from "node:path";
import type { ClipModel } from "../../model/mod.ts";
import { backboneSha256, loadBackboneConfig } from "./backbone_config.ts";
import type { BackboneInterpolation, BackboneResize, PatchInputSpec } from "./frame_resize.ts";
import type { IntensityMode } from "./intensity.ts";
import type { BackbonePrecision } from "./onnx_extractor.ts";
import { type ImageScoreRule, PATCH_DEFAULTS } from "./patch_memory.ts";
import type { View } from "./views.ts";

/** How patch features were extracted (the scorer must extract them the same way). */
export type PatchExtractorSpec =
  /** CLIP's own vision tokens, of these blocks (0-based). */
  | { kind: "clip"; blocks: number[] }
  /** An ONNX backbone: its description file (absolute), its model's sha256, and how it is run. */
  | {
    kind: "onnx";
    config: string;
    sha256: string;
    /** The outputs used. */
    layers: string[];
    /** Side of the square network input. */
    inputSize: number;
    resize: BackboneResize;
    interpolation: BackboneInterpolation;
    intensity: IntensityMode;
    /** Neighbourhood (cells, odd) averaged into each patch vector. */
    pool: number;
    /** `int8`: weights quantised when the model is loaded; absent: run as given (float32). */
    precision?: "int8";
  };

/**
 * Everything about the patch branch except the memory's shape (grid, dim, memory size): what the
 * scorer needs to score as enrollment calibrated, the edge excess measured from the shots included.
 */
export interface PatchSettings {
  /** Which extractor, and how it is opened. */
  extractor: PatchExtractorSpec;
  /** Views of each normal image in the memory. */
  views: View[];
  /** Views a frame is scored through, their distance grids averaged. */
  testViews: View[];
  /** Self-reference radius in grid cells; null: off. */
  selfRadius: number | null;
  /** How patch distances become an image score. */
  imageScore: ImageScoreRule;
  /**
   * The good parts' usual excess distance per ring of cells at the grid's edge, outermost first,
   * subtracted before the image score (edge_excess.ts); measured at enrollment, empty until then.
   */
  edgeExcess: number[];
  /** Map blur in grid cells. */
  sigma: number;
}

/**
 * The CLIP default: the tokens of the model's patch blocks (one half and three quarters of the
 * depth), whose features its vision graph computes. Frames are scored through the shared vision
 * pass alone: a test view or a flipped memory would cost a vision run or a fourfold search per
 * frame, against the 10% that scoring may add to the vision graph, and without pretrained CLIP
 * weights here their benefit cannot be measured.
 */
export function clipPatchSettings(clip: ClipModel): PatchSettings {
  return {
    extractor: { kind: "clip", blocks: [...clip.patchBlocks] },
    views: ["identity"],
    testViews: ["identity"],
    selfRadius: null,
    imageScore: { kind: "max" },
    edgeExcess: [],
    sigma: 0.25,
  };
}

/**
 * An ONNX backbone's settings: {@linkcode PATCH_DEFAULTS}, measured on the four dev sets
 * (bench/patch_quality.ts; the figures are in bench/PATCH_QUALITY.md): its described outputs at its
 * described input size, patch vectors without neighbourhood pooling (recorded: profiles from before
 * it read with 3×3), intensity `auto`, the shots and their flips in the memory, the frame scored
 * through the same four views, self-reference radius 2, the largest patch distance as image score
 * (less the edge excess, which enrollment measures and fills in); `precision` int8 quantises the
 * network's weights when it is loaded (recorded, so the scorer does too).
 */
export async function onnxPatchSettings(
  configPath: string,
  precision: BackbonePrecision = "fp32",
): Promise<PatchSettings> {
  const config = await loadBackboneConfig(configPath);
  const sha256 = await backboneSha256(config);
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
      pool: PATCH_DEFAULTS.pool,
      ...(precision === "int8" ? { precision } : {}),
    },
    views: [...PATCH_DEFAULTS.memoryViews],
    testViews: [...PATCH_DEFAULTS.testViews],
    selfRadius: PATCH_DEFAULTS.selfRadius,
    imageScore: PATCH_DEFAULTS.imageScore,
    edgeExcess: [],
    // In grid cells: PATCH_DEFAULTS' pixels at 224 on a 16-pixel grid (the proxy's stride).
    sigma: PATCH_DEFAULTS.sigma / 16,
  };
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
