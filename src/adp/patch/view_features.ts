/**
 * Patch features of frames seen through views: the normal images in every memory view (the bank a
 * memory is built from), and frames through the test views whose distance grids the memory averages.
 * Views are taken of a frame as the extractor resizes it, so that a quarter turn of a squashed frame
 * is still the square the network expects.
 *
 * @module
 */
import type { Rgb8Image } from "../../image/mod.ts";
import type { FeatureExtractor } from "./feature_extractor.ts";
import { type PatchFeatures, splitFeatures } from "./patch_features.ts";
import { type View, viewOf } from "./views.ts";

/**
 * Patch features of every view of every frame, frame-major (frame 0's views in order, then frame
 * 1's). Views are taken of the frame as the extractor resizes it, so that a quarter turn of a squashed
 * frame is still the square the network expects.
 *
 * @param extractor the feature extractor
 * @param frames the frames
 * @param views the views; `identity` is the frame itself
 * @returns `frames.length × views.length` single-frame features
 */
export async function extractViews(
  extractor: FeatureExtractor,
  frames: readonly Rgb8Image[],
  views: readonly View[],
): Promise<PatchFeatures[]> {
  const viewed: Rgb8Image[] = [];
  for (const frame of frames) {
    const prepared = extractor.prepare(frame);
    for (const view of views) viewed.push(view === "identity" ? prepared : viewOf(prepared, view));
  }
  return await extractor.extractEach(viewed);
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
