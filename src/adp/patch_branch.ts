/**
 * The patch branch as enrollment and scoring both use it: which extractor (CLIP vision tokens, or an
 * ONNX backbone described by a JSON file), which symmetries of the normal images join the memory,
 * how patch distances become an image score. A profile records this spec, and the scorer reopens
 * exactly the same extractor from it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import type { Rgb8Image } from "../clip/image_decode.ts";
import type { ClipModel } from "../model/clip_model.ts";
import type { Device } from "../onnx/runtime.ts";
import { ProfileError } from "../errors.ts";
import { type View, viewOf } from "./augment.ts";
import { clipExtractor, type FeatureExtractor, loadBackboneConfig, openOnnxExtractor } from "./backbone.ts";
import type { PatchFeatures } from "./patch_features.ts";
import type { ImageScoreRule } from "./patch_memory.ts";
import type { PatchExtractorSpec } from "./profile.ts";

/** Everything about the patch branch except what enrollment measures (grid, dim, memory size). */
export interface PatchSettings {
  extractor: PatchExtractorSpec;
  views: View[];
  imageScore: ImageScoreRule;
  sigma: number;
}

/**
 * The CLIP default: the tokens of the blocks at one half and three quarters of the depth (mid-level
 * features localise defects better than the last block, which is shaped for the pooled embedding).
 */
export function clipPatchSettings(clip: ClipModel): PatchSettings {
  const layers = clip.config.vision.layers;
  const blocks = [...new Set([Math.round(layers * 0.5) - 1, Math.round(layers * 0.75) - 1])];
  return {
    extractor: { kind: "clip", blocks },
    views: ["identity"],
    imageScore: { kind: "max" },
    sigma: 0.25,
  };
}

/**
 * An ONNX backbone's settings: its described outputs at its described input size, all eight
 * symmetries in the memory (measured on MVTec bottle and magnetic tile, bench/patch_quality.ts), and
 * the image score as the largest patch distance.
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
    },
    views: ["identity"],
    imageScore: { kind: "max" },
    sigma: 0.25,
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
    device: opts.device,
    log: () => {},
  });
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
