/**
 * One run of CLIP's vision tower over a batch of prepared frames, giving every scorer what it reads
 * from it: the unit image embeddings (the text branch) and the tokens of chosen blocks (the CLIP
 * patch branch). The service runs one pass per micro-batch for the frames of all stations, then each
 * station's scorer takes its frames' rows: the model runs once, however many stations share a batch.
 *
 * @module
 */
import type { Rgb8Image } from "../image/mod.ts";
import type { ClipModel } from "../model/mod.ts";
import { concatFloat32, normalizeRows } from "../vector.ts";
import type { Pause } from "../cooperate.ts";
import { clipPatchFeatures, type PatchFeatures } from "./patch/mod.ts";
import { type FramePreparation, type PreparedFrame, prepareFrame } from "./frame_input.ts";

/** Frames per vision run: large enough to amortise the call, small enough to bound memory. */
export const VISION_BATCH = 8;

/** What one vision pass holds for `n` frames. */
export interface VisionPass {
  /** Frames in the pass. */
  n: number;
  /** [n, embed], unit rows. */
  embeddings: Float64Array;
  /** The blocks whose tokens were kept, ascending, or the model's patch blocks (`patchFeatures`). */
  blocks: readonly number[];
  /** Per block of `blocks`, [n, 1+grid², width]; empty when `patchFeatures` holds them. */
  tokens: readonly Float32Array[];
  /**
   * [n, grid², dim]: the patch features of the model's {@linkcode ClipModel.patchBlocks}, computed
   * in the vision graph, when those were the blocks asked for (every profile CLIP enrolls).
   */
  patchFeatures?: Float32Array;
}

/**
 * Runs the vision tower over frames, `batch` at a time.
 *
 * @param clip the model
 * @param frames prepared frames (their `clipPixels`)
 * @param blocks vision blocks whose tokens to keep (any order, repeats allowed)
 * @param opts `batch`: frames per model run (the service's `--max-batch`); default {@linkcode VISION_BATCH}
 * @returns the pass
 */
export async function runVisionPass(
  clip: ClipModel,
  frames: readonly Pick<PreparedFrame, "clipPixels">[],
  blocks: readonly number[] = [],
  opts: { batch?: number } = {},
): Promise<VisionPass> {
  const size = Math.max(1, Math.floor(opts.batch ?? VISION_BATCH));
  const e = clip.config.embedDim, { imageSize } = clip.config.vision;
  const per = 3 * imageSize * imageSize;
  const kept = [...new Set(blocks)].sort((a, b) => a - b);
  const inGraph = kept.length > 0 && sameBlocks(kept, [...clip.patchBlocks].sort((a, b) => a - b));
  const n = frames.length;
  const embeddings = new Float64Array(n * e);
  const chunks: Float32Array[][] = [];
  for (let start = 0; start < n; start += size) {
    const batch = frames.slice(start, start + size);
    const pixels = new Float32Array(batch.length * per);
    batch.forEach((f, i) => pixels.set(f.clipPixels, i * per));
    const out = await clip.runVision(pixels, batch.length, {
      features: true,
      ...(inGraph ? { patchFeatures: true } : kept.length ? { blocks: kept } : {}),
    });
    embeddings.set(normalizeRows(out.features!, e).unit, start * e);
    chunks.push(inGraph ? [out.patchFeatures!] : out.tokens ?? []);
  }
  // One model run (the service's usual batch) is used as it came; several are joined per output.
  const outputs = chunks.length === 1
    ? chunks[0]
    : (chunks[0] ?? []).map((_, o) => concatFloat32(chunks.map((c) => c[o])));
  return inGraph
    ? { n, embeddings, blocks: clip.patchBlocks, tokens: [], patchFeatures: outputs[0] }
    : { n, embeddings, blocks: kept, tokens: outputs };
}

function sameBlocks(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The rows of `indices` (in that order) of a pass; the pass itself when that is all of it, in order. */
export function selectFromPass(pass: VisionPass, indices: readonly number[]): VisionPass {
  if (indices.length === pass.n && indices.every((from, i) => from === i)) return pass;
  const e = pass.embeddings.length / Math.max(1, pass.n);
  const embeddings = new Float64Array(indices.length * e);
  indices.forEach((from, i) => embeddings.set(pass.embeddings.subarray(from * e, (from + 1) * e), i * e));
  const rows = (t: Float32Array) => {
    const per = t.length / Math.max(1, pass.n);
    const out = new Float32Array(indices.length * per);
    indices.forEach((from, i) => out.set(t.subarray(from * per, (from + 1) * per), i * per));
    return out;
  };
  return {
    n: indices.length,
    embeddings,
    blocks: pass.blocks,
    tokens: pass.tokens.map(rows),
    ...(pass.patchFeatures ? { patchFeatures: rows(pass.patchFeatures) } : {}),
  };
}

/**
 * CLIP patch features of a pass's frames from the tokens of `blocks` (which the pass must hold).
 *
 * @throws {RangeError} when the pass lacks one of the blocks
 */
export function passPatchFeatures(
  clip: ClipModel,
  pass: VisionPass,
  blocks: readonly number[],
): PatchFeatures {
  if (pass.patchFeatures) {
    if (!sameBlocks(blocks, pass.blocks)) {
      throw new RangeError(
        `The vision pass holds the features of blocks ${pass.blocks.join(", ")}, not ${blocks.join(", ")}`,
      );
    }
    const grid = clip.config.vision.imageSize / clip.config.vision.patchSize;
    return {
      n: pass.n,
      gridH: grid,
      gridW: grid,
      dim: pass.patchFeatures.length / (pass.n * grid * grid),
      data: pass.patchFeatures,
    };
  }
  const chosen = blocks.map((b) => {
    const at = pass.blocks.indexOf(b);
    if (at < 0) throw new RangeError(`The vision pass kept blocks ${pass.blocks.join(", ")}, not ${b}`);
    return pass.tokens[at];
  });
  return clipPatchFeatures(clip, chosen, pass.n);
}

/** CLIP's part of a frame preparation: its input side and normalisation. */
export function clipPreparation(clip: ClipModel): FramePreparation["clip"] {
  const { mean, std } = clip.config.preprocess;
  return { size: clip.config.vision.imageSize, mean, std };
}

/**
 * Unit-norm CLIP image features [n, embed] (float64) of RGB images, each whole frame squashed;
 * `pause` (when given) is called after each frame's preparation.
 */
export async function imageEmbeddings(
  clip: ClipModel,
  images: readonly Rgb8Image[],
  pause?: Pause,
): Promise<Float64Array> {
  const e = clip.config.embedDim;
  const out = new Float64Array(images.length * e);
  const prep = { clip: clipPreparation(clip), patchInputs: [] };
  for (let start = 0; start < images.length; start += VISION_BATCH) {
    const frames: PreparedFrame[] = [];
    for (const image of images.slice(start, start + VISION_BATCH)) {
      frames.push(prepareFrame(image, prep));
      await pause?.();
    }
    out.set((await runVisionPass(clip, frames)).embeddings, start * e);
  }
  return out;
}
