/**
 * The CLIP feature extractor: the tokens of chosen CLIP vision blocks as patch features, the class
 * token dropped. The scorer reads the same tokens from its shared vision pass
 * ({@linkcode clipPatchFeatures}), so that CLIP's patch branch costs no second vision run.
 *
 * @module
 */
import { ConfigError, ShapeError } from "../../errors.ts";
import { clipResizeGeometry, resizeBicubic, type Rgb8Image } from "../../image/mod.ts";
import { preprocessRgb } from "../../clip/mod.ts";
import type { ClipModel } from "../../model/mod.ts";
import type { FeatureExtractor } from "./feature_extractor.ts";
import { type PatchFeatures, splitFeatures } from "./patch_features.ts";

/** Options for {@linkcode clipExtractor}. */
export interface ClipExtractorOptions {
  /** Vision blocks (0-based) whose tokens are concatenated per patch. */
  blocks: number[];
  /**
   * Frames are shorter-side scaled and centre-cropped (`crop`, CLIP's own) or squashed whole.
   * @default {"resize"}
   */
  mode?: "crop" | "resize";
  /** Frames per vision run. @default {8} */
  batch?: number;
}

/**
 * Patch features from CLIP block tokens (as `ClipModel.runVision` returns them, [n, 1+grid², width]
 * per block): the class token dropped, each block's patch token L2-normalised, the blocks
 * concatenated and normalised again. Shared by the extractor and the scorer, which gets these tokens
 * from the same vision run as the image features.
 *
 * @param model the CLIP the tokens came from (for its grid and width)
 * @param tokens one array per block
 * @param n images
 * @returns the patch features
 */
export function clipPatchFeatures(
  model: ClipModel,
  tokens: readonly Float32Array[],
  n: number,
): PatchFeatures {
  const { imageSize, patchSize, width } = model.config.vision;
  const grid = imageSize / patchSize, cells = grid * grid, dim = width * tokens.length;
  const data = new Float32Array(n * cells * dim);
  for (let j = 0; j < n; j++) {
    for (let c = 0; c < cells; c++) {
      const out = (j * cells + c) * dim;
      tokens.forEach((t, b) => {
        // Token 0 is the class token; patch c is token 1 + c.
        const from = (j * (cells + 1) + 1 + c) * width;
        normaliseInto(t.subarray(from, from + width), data, out + b * width);
      });
      normaliseInto(data.subarray(out, out + dim), data, out);
    }
  }
  return { n, gridH: grid, gridW: grid, dim, data };
}

/**
 * A feature extractor over CLIP vision tokens: each block's patch tokens (the class token dropped)
 * L2-normalised, concatenated, normalised again, on the model's patch grid.
 *
 * @param model a loaded CLIP
 * @param opts the blocks to use
 * @returns the extractor (disposing it leaves the model open)
 * @throws {ConfigError} when no block is given, or a block does not exist or has no patch tokens
 */
export function clipExtractor(model: ClipModel, opts: ClipExtractorOptions): FeatureExtractor {
  const { imageSize, patchSize, layers, width } = model.config.vision;
  if (opts.blocks.length === 0) throw new ConfigError("CLIP extractor needs at least one block");
  for (const b of opts.blocks) {
    if (!Number.isInteger(b) || b < 0 || b >= layers) {
      throw new ConfigError(`CLIP block ${b} does not exist: the vision tower has blocks 0–${layers - 1}`);
    }
    if (!model.tokenBlocks.includes(b)) {
      throw new ConfigError(
        `CLIP block ${b}'s patch tokens are not computed: the vision graph runs its last block on the class token alone`,
      );
    }
  }
  const grid = imageSize / patchSize;
  const batch = Math.max(1, Math.floor(opts.batch ?? 8));
  const mode = opts.mode ?? "resize";
  const { mean, std } = model.config.preprocess;
  // The model's own patch blocks come out of the vision graph ready (as the scorer reads them).
  const inGraph = opts.blocks.length === model.patchBlocks.length &&
    opts.blocks.every((b, i) => b === model.patchBlocks[i]);
  const extract = async (images: readonly Rgb8Image[]): Promise<PatchFeatures> => {
    if (images.length === 0) throw new ShapeError("Feature extraction needs at least one image");
    const cells = grid * grid, dim = width * opts.blocks.length;
    const data = new Float32Array(images.length * cells * dim);
    const per = 3 * imageSize * imageSize;
    for (let i = 0; i < images.length; i += batch) {
      const part = images.slice(i, i + batch);
      const pixels = new Float32Array(part.length * per);
      part.forEach((img, j) => pixels.set(preprocessRgb(img, { size: imageSize, mode, mean, std }), j * per));
      data.set(
        inGraph
          ? (await model.runVision(pixels, part.length, { patchFeatures: true })).patchFeatures!
          : clipPatchFeatures(model, await model.imageTokens(pixels, part.length, opts.blocks), part.length)
            .data,
        i * cells * dim,
      );
    }
    return { n: images.length, gridH: grid, gridW: grid, dim, data };
  };
  return {
    name: `clip-${model.hash.slice(0, 12)}-blocks-${opts.blocks.join("-")}`,
    inputSize: { width: imageSize, height: imageSize },
    prepare(image: Rgb8Image): Rgb8Image {
      if (mode === "crop") {
        return resizeBicubic(image, clipResizeGeometry(image.width, image.height, { size: imageSize, mode }));
      }
      return resizeBicubic(image, { width: imageSize, height: imageSize });
    },
    extract,
    async extractEach(images: readonly Rgb8Image[]): Promise<PatchFeatures[]> {
      return splitFeatures(await extract(images));
    },
    async dispose(): Promise<void> {},
  };
}

/** Writes v/‖v‖ at `out[at…]` (v may alias the destination). */
function normaliseInto(v: Float32Array, out: Float32Array, at: number): void {
  let sq = 0;
  for (let k = 0; k < v.length; k++) sq += v[k] * v[k];
  const inv = 1 / Math.sqrt(sq + 1e-12);
  for (let k = 0; k < v.length; k++) out[at + k] = v[k] * inv;
}
