/**
 * What a synthesizer makes and the interfaces synthesizers keep: one image at a time, synchronously
 * (the procedural painters), or a batch at a time, asynchronously (a diffusion model's edits; any
 * synchronous synthesizer serves as one through `batchOf`).
 *
 * @module
 */
import type { Random } from "../../random.ts";
import type { Rgb8Image } from "../../image/mod.ts";

/** A synthetic defective image and where it differs from the normal one it was made from. */
export interface PseudoAnomaly {
  /** The altered image, the size of the normal one. */
  image: Rgb8Image;
  /** `width * height` bytes: 255 where the image was altered, 0 elsewhere. */
  mask: Uint8Array;
  /** What kind of defect it is (for the procedural synthesizer, one of its `DEFECT_KINDS`). */
  kind: string;
}

/** Makes a pseudo-anomaly from a normal image. Deterministic given the random source's state. */
export interface Synthesizer {
  /** Names the synthesizer in logs and profiles. */
  readonly name: string;
  /**
   * One pseudo-anomaly of `normal`.
   * @param normal a defect-free image; not modified
   * @param random the only source of randomness the synthesizer may use
   */
  synthesize(normal: Rgb8Image, random: Random): PseudoAnomaly;
}

/** One pseudo-anomaly to make in a batch: its normal, its random source, and its index in the run. */
export interface SynthesisItem {
  normal: Rgb8Image;
  /** The only source of randomness the synthesizer may use for this item. */
  random: Random;
  /** Position of the pseudo-anomaly in the run (a mixing synthesizer alternates on it). */
  index: number;
}

/**
 * Makes pseudo-anomalies a batch at a time, asynchronously: a diffusion model runs a batch per
 * call on its device. Item i's result depends only on item i (not on the batch it came in).
 */
export interface BatchSynthesizer {
  /** Names the synthesizer in logs and profiles. */
  readonly name: string;
  /** Items per call that make good use of the device. */
  readonly batchSize: number;
  /**
   * One pseudo-anomaly per item, in order.
   * @param items the normals (not modified), their random sources and indices
   * @param signal stops the batch between model runs
   */
  synthesizeBatch(items: readonly SynthesisItem[], signal?: AbortSignal): Promise<PseudoAnomaly[]>;
}

/**
 * Which synthesizer enrollment uses: the procedural painters, Stable Diffusion's SDEdit, or a mix
 * alternating the two (even-indexed pseudo-anomalies from SD, odd ones procedural).
 */
export const SYNTH_MODES = ["procedural", "sd", "mix"] as const;

/** One of {@linkcode SYNTH_MODES}. */
export type SynthMode = typeof SYNTH_MODES[number];
