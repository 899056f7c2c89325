/**
 * A frame made ready for scoring before it reaches the model: CLIP's input tensor and, for a patch
 * extractor that reads pixels itself, the frame resized to that extractor's input. Making it is pure
 * and touches no runtime, so the service's decode workers do it off the main thread: resampling a
 * 900×900 frame is the costly part (≈ 9 ms), the rest of scoring outside the model is ≈ 1 ms.
 *
 * @module
 */
import type { Rgb8Image } from "../image/mod.ts";
import { preprocessRgb } from "../clip/mod.ts";
import { type PatchInputSpec, resizeFrame } from "./patch/mod.ts";

export type { PatchInputSpec };

/** What scoring needs made of each frame. */
export interface FramePreparation {
  /** CLIP's input: the whole frame squashed to `size`², normalised. */
  clip: { size: number; mean: [number, number, number]; std: [number, number, number] };
  /** The frame inputs patch extractors read pixels from (none when they read the vision pass alone). */
  patchInputs: readonly PatchInputSpec[];
}

/** A frame as the scorers take it. */
export interface PreparedFrame {
  /** The frame's own width: maps keep its aspect ratio. */
  width: number;
  /** The frame's own height. */
  height: number;
  /** [3, size, size] for CLIP. */
  clipPixels: Float32Array;
  /** The frame at each patch input's size, by key. */
  patchInputs: Record<string, Rgb8Image>;
}

/**
 * Prepares one decoded frame.
 *
 * @example A frame for CLIP alone
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const frame = { width: 4, height: 2, data: new Uint8Array(4 * 2 * 3).fill(255) };
 * const ready = prepareFrame(frame, { clip: { size: 2, mean: [0, 0, 0], std: [1, 1, 1] }, patchInputs: [] });
 * strictEqual(ready.clipPixels.length, 3 * 2 * 2);
 * strictEqual(ready.clipPixels[0], 1);
 * strictEqual(ready.width, 4);
 * ```
 */
export function prepareFrame(image: Rgb8Image, prep: FramePreparation): PreparedFrame {
  const { size, mean, std } = prep.clip;
  const patchInputs: Record<string, Rgb8Image> = {};
  for (const spec of prep.patchInputs) {
    patchInputs[spec.key] = resizeFrame(image, { width: spec.width, height: spec.height }, spec);
  }
  return {
    width: image.width,
    height: image.height,
    clipPixels: preprocessRgb(image, { size, mode: "resize", mean, std }),
    patchInputs,
  };
}
