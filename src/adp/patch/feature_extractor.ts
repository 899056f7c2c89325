/**
 * What the patch branch asks of a feature extractor: frames in, {@linkcode PatchFeatures} out, and
 * the resize it applies, so that views are taken of what the network sees. Implemented over an ONNX
 * backbone (onnx_extractor.ts) and over CLIP's vision tokens (clip_extractor.ts).
 *
 * @module
 */
import type { Rgb8Image } from "../../image/mod.ts";
import type { PatchFeatures } from "./patch_features.ts";

/** What every extractor offers. */
export interface FeatureExtractor {
  /** The backbone's name. */
  readonly name: string;
  /**
   * The network input every frame is resized to; undefined when frames keep their aspect ratio
   * (an ONNX extractor opened with `scale`), so that grids differ between frames of different shape.
   */
  readonly inputSize: { width: number; height: number } | undefined;
  /**
   * Patch features of frames (any size; each is resized to the network input).
   *
   * @throws {ShapeError} when the frames' grids differ (aspect-preserving extractors): use `extractEach`
   */
  extract(images: readonly Rgb8Image[]): Promise<PatchFeatures>;
  /** Patch features of each frame on its own grid, in order. */
  extractEach(images: readonly Rgb8Image[]): Promise<PatchFeatures[]>;
  /**
   * A frame resized to `inputSize` the way `extract` resizes it; extracting the result resizes
   * nothing more. Augmented views of a frame are made from this, so that they are views of what the
   * network sees.
   */
  prepare(image: Rgb8Image): Rgb8Image;
  /** Releases the sessions. */
  dispose(): Promise<void>;
}
