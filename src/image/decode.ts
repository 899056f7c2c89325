/**
 * PNG and JPEG bytes to an interleaved RGB8 buffer, the way CLIP's `Image.open(...).convert("RGB")`
 * sees them: grey replicated to three channels, alpha dropped without compositing, palettes expanded,
 * 16-bit samples reduced to their high byte. PNG goes through our own decoder (`png.ts`), JPEG
 * through imagescript's WebAssembly decoder (`jpeg.ts`).
 *
 * One deliberate difference from PIL: a 16-bit greyscale PNG becomes its high byte, where PIL's
 * `I` → `RGB` conversion clips the 16-bit value at 255 and turns most of the image white.
 *
 * Every input is measured from its header first (PNG IHDR, JPEG SOFn, `header.ts`) and refused
 * above `maxPixels` before anything of image size is allocated.
 *
 * @module
 */
import { ConfigError, ImageError } from "../errors.ts";
import { readImageHeader } from "./header.ts";
import { decodeJpeg } from "./jpeg.ts";
import { decodePng } from "./png.ts";
import type { Rgb8Image } from "./rgb8_image.ts";

// Importers of this file have taken the image type from it since before the split.
export type { Rgb8Image } from "./rgb8_image.ts";

/** Options for {@linkcode decodeImage}. */
export interface DecodeOptions {
  /**
   * Largest accepted `width * height`; bigger images are refused from their header alone.
   * @default {50_000_000}
   */
  maxPixels?: number;
}

/** The default pixel limit: 50 megapixels, far above any camera frame, far below a decompression bomb. */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/**
 * Decodes a PNG or JPEG into RGB8, refusing images above `maxPixels` before allocating for them.
 *
 * @param bytes the encoded image
 * @param opts the pixel limit
 * @returns the decoded image, channels interleaved
 * @throws {ImageError} when the bytes are empty, not PNG or JPEG, truncated, corrupt or too large
 *
 * @example Decode a 1×1 grey PNG
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { Image } from "imagescript";
 * const png = await new Image(1, 1).fill(0x808080ff).encode();
 * const img = await decodeImage(png);
 * deepStrictEqual([img.width, img.height, [...img.data]], [1, 1, [128, 128, 128]]);
 * ```
 */
export async function decodeImage(bytes: Uint8Array, opts: DecodeOptions = {}): Promise<Rgb8Image> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(Number.isFinite(maxPixels) && maxPixels > 0)) {
    throw new ConfigError(`Option maxPixels must be a positive number: got ${maxPixels}`);
  }
  const header = readImageHeader(bytes);
  const pixels = header.width * header.height;
  if (pixels > maxPixels) {
    throw new ImageError(
      `Image is too large: ${header.width}×${header.height} is ${pixels} pixels, the limit is ${maxPixels}`,
    );
  }
  return header.format === "png" ? decodePng(bytes) : await decodeJpeg(bytes, header);
}
