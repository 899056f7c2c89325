/**
 * The image every decoder here produces and every resampler takes.
 *
 * @module
 */

/** An 8-bit RGB image, rows top to bottom, channels interleaved (`R G B R G B …`). */
export interface Rgb8Image {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `width * height * 3` bytes. */
  data: Uint8Array;
}
