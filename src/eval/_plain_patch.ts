/**
 * Plain patch matching, exactly the proxy README's baseline: every patch of the K shots (identity
 * view only) in the memory, each test patch's distance 1 − max cosine to it, the image score the
 * largest patch distance, the map the patch grid resized bilinearly with no blur. No text branch,
 * no calibration. With a backbone JSON its described outputs are used as described (3×3 pooling,
 * the coarsest output's grid); without one, CLIP's own patch tokens at enrollment's default blocks.
 *
 * @module
 */
import type { Rgb8Image } from "../image/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import {
  type BackbonePrecision,
  clipExtractor,
  clipPatchSettings,
  type FeatureExtractor,
  openOnnxExtractor,
  type PatchFeatures,
  PatchMemory,
  type PatchScores,
} from "../adp/patch/mod.ts";
import { ConfigError } from "../errors.ts";
import { loadImage } from "./datasets.ts";

/** Images decoded per extractor call: bounds memory while amortising the network call. */
const BATCH = 8;

/** Opens the baseline's extractor: the backbone's described outputs, or CLIP's tokens. */
export async function openPlainExtractor(
  source: { backbone?: string; clip?: ClipModel; threads?: number; precision?: BackbonePrecision },
): Promise<FeatureExtractor> {
  if (source.backbone) {
    return await openOnnxExtractor(source.backbone, {
      pool: 3,
      intensity: "raw",
      precision: source.precision,
      threads: source.threads,
      log: () => {},
    });
  }
  if (!source.clip) throw new ConfigError("Plain patch matching needs a backbone JSON or a CLIP model");
  const settings = clipPatchSettings(source.clip);
  if (settings.extractor.kind !== "clip") {
    throw new ConfigError("CLIP patch settings name another extractor than CLIP tokens");
  }
  return clipExtractor(source.clip, { blocks: settings.extractor.blocks });
}

/** Patch features of each image file, in order, decoding a few at a time. */
export async function extractFiles(
  extractor: FeatureExtractor,
  paths: readonly string[],
  onProgress?: (done: number) => void,
): Promise<PatchFeatures[]> {
  const out: PatchFeatures[] = [];
  for (let i = 0; i < paths.length; i += BATCH) {
    const images: Rgb8Image[] = [];
    for (const path of paths.slice(i, i + BATCH)) images.push(await loadImage(path));
    out.push(...await extractor.extractEach(images));
    onProgress?.(out.length);
  }
  return out;
}

/** Each test image's patch distances to the memory of the shots' patches, and its max-distance score. */
export async function plainPatchScores(
  shots: readonly PatchFeatures[],
  test: readonly PatchFeatures[],
  opts: { threads?: number } = {},
): Promise<PatchScores[]> {
  const memory = await PatchMemory.create(shots, {
    imageScore: { kind: "max" },
    session: { threads: opts.threads, device: "cpu" },
  });
  try {
    return await memory.scoreEach(test);
  } finally {
    await memory.dispose();
  }
}
