/**
 * What a synthesizer makes and the interface every synthesizer keeps: the procedural painters now,
 * a diffusion model's edits where its weights exist.
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
