/**
 * What an image's header announces — format and size — read without decoding any pixels, so that
 * the cost of a frame is known (and an oversized one refused) before anything of image size is
 * allocated.
 *
 * @module
 */
import { ImageError } from "../errors.ts";
import { isJpeg, readJpegSize } from "./jpeg.ts";
import { isPng, readIhdr } from "./png.ts";

/** The container formats {@linkcode decodeImage} accepts. */
export type ImageFormat = "png" | "jpeg";

/** What an image's header announces, read without decoding any pixels. */
export interface ImageHeader {
  /** The container format. */
  format: ImageFormat;
  /** Width in pixels, as the header announces it. */
  width: number;
  /** Height in pixels, as the header announces it. */
  height: number;
}

/**
 * Reads format and dimensions from an image's header without decoding it.
 *
 * @param bytes the encoded image
 * @returns the format and the announced width and height
 * @throws {ImageError} when the bytes are empty, not PNG or JPEG, or the header is malformed
 *
 * @example Read a PNG's size
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { readImageHeader } from "./header.ts";
 * const png = new Uint8Array([
 *   0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52,
 *   0, 0, 0x75, 0x30, 0, 0, 0x75, 0x30, 8, 2, 0, 0, 0, 0, 0, 0, 0,
 * ]);
 * deepStrictEqual(readImageHeader(png), { format: "png", width: 30000, height: 30000 });
 * ```
 */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  if (bytes.length === 0) throw new ImageError("Image is empty: zero bytes");
  if (isPng(bytes)) {
    const ihdr = readIhdr(bytes);
    return { format: "png", width: ihdr.width, height: ihdr.height };
  }
  if (isJpeg(bytes)) return { format: "jpeg", ...readJpegSize(bytes) };
  throw new ImageError(`Image format is not recognised: expected PNG or JPEG, got ${describeStart(bytes)}`);
}

function describeStart(bytes: Uint8Array): string {
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  return `${bytes.length} bytes starting ${head}`;
}
