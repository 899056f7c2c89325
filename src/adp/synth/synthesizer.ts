/**
 * Pseudo-anomalies behind one interface. ADP learns its anomaly-aware concept and self-tunes its
 * prompts on defective images made from the K normal ones; the paper made them with SDEdit on Stable
 * Diffusion. Here any {@linkcode Synthesizer} can make them, the procedural one by default, and a
 * diffusion-based one can take its place without touching the callers.
 *
 * @module
 */
import { ConfigError } from "../../errors.ts";
import { Random } from "../../random.ts";
import { resizeBicubic, type Rgb8Image } from "../../image/mod.ts";
import { createProceduralSynthesizer } from "./procedural.ts";
import type { BatchSynthesizer, PseudoAnomaly, SynthesisItem, Synthesizer } from "./pseudo_anomaly.ts";
import { randomResizedCrop } from "./random_resized_crop.ts";

/** The random resized crop applied after synthesis (torchvision's `RandomResizedCrop`). */
export interface SynthCropOptions {
  /** Side of the square output: the vision model's input size. */
  size: number;
  /** Range of the crop's area as a fraction of the image. */
  scale: [number, number];
  /** Range of the crop's aspect ratio, width / height. */
  ratio: [number, number];
}

/** Options for {@linkcode synthesizePseudoAnomalies}. */
export interface SynthesizeOptions {
  /** How many pseudo-anomalies to make. */
  count: number;
  /** Seed of everything random: the same seed and inputs give the same bytes. */
  seed: number;
  /**
   * What makes the defects.
   * @default {createProceduralSynthesizer()}
   */
  synthesizer?: Synthesizer;
  /**
   * The crop after synthesis, or `false` to return full-size images.
   * @default {DEFAULT_SYNTH_CROP}
   */
  crop?: SynthCropOptions | false;
}

/**
 * The default crop: CLIP's 224 px, at least half the image's area (torchvision's default of 8 % would
 * often leave a crop of plain surface around a sliver of defect), torchvision's aspect ratios.
 */
export const DEFAULT_SYNTH_CROP: Readonly<SynthCropOptions> = Object.freeze({
  size: 224,
  scale: [0.5, 1] as [number, number],
  ratio: [3 / 4, 4 / 3] as [number, number],
});

/**
 * Makes `count` pseudo-anomalies from `normals`: anomaly i comes from normal `i mod normals.length`,
 * then is cut by a random resized crop that keeps part of the defect in view, its mask cut alike.
 * Anomaly i depends only on the seed, i and its normal, not on `count`.
 *
 * When cropping, each normal is first shrunk to the smallest size from which every possible crop
 * still downsamples to `size` (defects are sized relative to the image, so they look the same) -
 * synthesis at 900 px for a 224 px output would spend most of its time on pixels that get averaged away.
 *
 * @param normals the defect-free images
 * @param opts count, seed, synthesizer and crop
 * @returns the pseudo-anomalies, in order
 * @throws {ConfigError} when there are no normals, the count is not a non-negative integer, or the crop is invalid
 *
 * @example Eight 64 px pseudo-anomalies from one image
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const data = new Uint8Array(128 * 128 * 3).map((_, i) => 90 + ((i * 13) % 40));
 * const out = synthesizePseudoAnomalies([{ width: 128, height: 128, data }], {
 *   count: 8,
 *   seed: 1,
 *   crop: { size: 64, scale: [0.5, 1], ratio: [0.75, 4 / 3] },
 * });
 * strictEqual(out.length, 8);
 * strictEqual(out[0].image.width, 64);
 * strictEqual(out[0].mask.length, 64 * 64);
 * ```
 */
export function synthesizePseudoAnomalies(normals: Rgb8Image[], opts: SynthesizeOptions): PseudoAnomaly[] {
  return [...iteratePseudoAnomalies(normals, opts)];
}

/**
 * The pseudo-anomalies of {@linkcode synthesizePseudoAnomalies}, made one at a time as the iterator is
 * advanced (the same bytes): a caller on a busy event loop can give it a turn between two of them.
 * The options are checked at once, not on the first step.
 *
 * @param normals the defect-free images
 * @param opts count, seed, synthesizer and crop
 * @returns an iterator over the pseudo-anomalies, in order
 * @throws {ConfigError} as {@linkcode synthesizePseudoAnomalies}
 */
export function iteratePseudoAnomalies(
  normals: Rgb8Image[],
  opts: SynthesizeOptions,
): Generator<PseudoAnomaly> {
  return pseudoAnomalySteps(normals, { ...opts, crop: checkedCrop(normals, opts) });
}

/** The crop the options ask for, once they are checked. */
function checkedCrop(
  normals: readonly Rgb8Image[],
  opts: { count: number; crop?: SynthCropOptions | false },
): SynthCropOptions | false {
  const { count } = opts;
  if (!normals.length) throw new ConfigError("Pseudo-anomalies need at least one normal image: got none");
  if (!(Number.isInteger(count) && count >= 0)) {
    throw new ConfigError(`Pseudo-anomaly count must be a non-negative integer: got ${count}`);
  }
  const crop = opts.crop === undefined ? DEFAULT_SYNTH_CROP : opts.crop;
  if (crop && !(Number.isInteger(crop.size) && crop.size > 0)) {
    throw new ConfigError(`Crop size must be a positive integer: got ${crop.size}`);
  }
  return crop;
}

function* pseudoAnomalySteps(
  normals: Rgb8Image[],
  opts: SynthesizeOptions & { crop: SynthCropOptions | false },
): Generator<PseudoAnomaly> {
  const { count, seed, crop } = opts;
  const synthesizer = opts.synthesizer ?? createProceduralSynthesizer();
  // Each working image is made when first needed: shrinking a 900 px normal is a slice of its own.
  const sources: (Rgb8Image | undefined)[] = normals.map(() => undefined);
  for (let i = 0; i < count; i++) {
    const k = i % normals.length;
    const normal = sources[k] ??= crop ? workingImage(normals[k], crop) : normals[k];
    const anomaly = synthesizer.synthesize(normal, synthRandom(seed, i));
    yield crop ? cropAnomaly(anomaly, crop, Random.forStream(seed, `crop/${i}`)) : anomaly;
  }
}

/** Options for {@linkcode makePseudoAnomalies}. */
export interface BatchSynthesizeOptions extends Omit<SynthesizeOptions, "synthesizer"> {
  /** What makes the defects, a batch at a time. */
  synthesizer: BatchSynthesizer;
  /** Stops between batches (and inside one, as the synthesizer allows). */
  signal?: AbortSignal;
  /** Called after each batch with the pseudo-anomalies done so far. */
  onProgress?: (done: number, count: number) => void;
}

/**
 * {@linkcode synthesizePseudoAnomalies} with a {@linkcode BatchSynthesizer}: the same random
 * streams, working images and crops, so anomaly i depends only on the seed, i and its normal, and a
 * procedural synthesizer run through `batchOf` gives the same bytes as the synchronous path.
 *
 * @param normals the defect-free images
 * @param opts count, seed, crop, the synthesizer, cancellation and progress
 * @returns the pseudo-anomalies, in order
 * @throws {ConfigError} as {@linkcode synthesizePseudoAnomalies}
 */
export async function makePseudoAnomalies(
  normals: Rgb8Image[],
  opts: BatchSynthesizeOptions,
): Promise<PseudoAnomaly[]> {
  const crop = checkedCrop(normals, opts);
  const { count, seed, synthesizer, signal } = opts;
  const sources: (Rgb8Image | undefined)[] = normals.map(() => undefined);
  const out: PseudoAnomaly[] = [];
  const batch = Math.max(1, synthesizer.batchSize);
  for (let start = 0; start < count; start += batch) {
    signal?.throwIfAborted();
    const items: SynthesisItem[] = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      const k = i % normals.length;
      const normal = sources[k] ??= crop ? workingImage(normals[k], crop) : normals[k];
      items.push({ normal, random: synthRandom(seed, i), index: i });
    }
    const made = await synthesizer.synthesizeBatch(items, signal);
    for (const [j, anomaly] of made.entries()) {
      const i = start + j;
      out.push(crop ? cropAnomaly(anomaly, crop, Random.forStream(seed, `crop/${i}`)) : anomaly);
    }
    opts.onProgress?.(out.length, count);
  }
  return out;
}

function synthRandom(seed: number, i: number): Random {
  return Random.forStream(seed, `synth/${i}`);
}

/** The random resized crop of an anomaly that keeps part of its defect in view, its mask cut alike. */
function cropAnomaly(anomaly: PseudoAnomaly, crop: SynthCropOptions, random: Random): PseudoAnomaly {
  const contains = pickMaskPixel(anomaly.mask, anomaly.image.width, random);
  const cropped = randomResizedCrop(anomaly.image, random, { ...crop, mask: anomaly.mask, contains });
  return { image: cropped.image, mask: cropped.mask!, kind: anomaly.kind };
}

/** The normal shrunk (never enlarged) so that its smallest possible crop is still `size` wide and high. */
function workingImage(image: Rgb8Image, crop: SynthCropOptions): Rgb8Image {
  const [scaleLo] = crop.scale;
  const [ratioLo, ratioHi] = crop.ratio;
  // A crop of area A and ratio r is sqrt(A·r) wide and sqrt(A/r) high: the narrowest has the least
  // area and ratio, the shortest the least area and the largest ratio.
  const leastArea = Math.max(scaleLo, 0) * image.width * image.height;
  const minW = Math.sqrt(leastArea * Math.max(ratioLo, 0));
  const minH = Math.sqrt(leastArea / Math.max(ratioHi, Number.MIN_VALUE));
  const factor = Math.max(
    crop.size / Math.max(Math.min(minW, image.width), 1),
    crop.size / Math.max(Math.min(minH, image.height), 1),
  );
  if (!(factor < 0.9)) return image;
  const width = Math.max(1, Math.round(image.width * factor));
  const height = Math.max(1, Math.round(image.height * factor));
  return resizeBicubic(image, { width, height });
}

/** A mask pixel drawn uniformly, or undefined for an empty mask. */
function pickMaskPixel(
  mask: Uint8Array,
  width: number,
  random: Random,
): { x: number; y: number } | undefined {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) n++;
  if (!n) return undefined;
  let k = random.int(0, n - 1);
  for (let i = 0; i < mask.length; i++) {
    if (mask[i] && k-- === 0) return { x: i % width, y: Math.floor(i / width) };
  }
  return undefined;
}
