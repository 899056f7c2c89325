/**
 * What decoding an image will cost, from its header alone: pixels × working bytes per pixel ×
 * passes over them. A PNG's working bytes are its inflated samples plus the RGB8 output (so a
 * 16-bit RGBA bomb weighs 11 bytes a pixel, not 3); a JPEG is decoded once per scan, so a
 * progressive JPEG of 2,000 tiny scans costs 2,000 decodes of its size although its file is small.
 * Checked before decoding, this bounds both the time and the memory a frame may take.
 *
 * @module
 */
import { ImageError } from "../errors.ts";
import { readImageHeader } from "./header.ts";
import { isJpeg } from "./jpeg.ts";
import { isPng, readIhdr } from "./png.ts";

/** The cost of decoding one image, read from its header. */
export interface DecodeCost {
  /** `width × height`. */
  pixels: number;
  /** Working bytes per pixel while decoding (samples as stored plus the RGB8 output). */
  bytesPerPixel: number;
  /** Passes over the pixels: a JPEG's scans (1 for a baseline colour JPEG), 1 for a PNG. */
  scans: number;
  /** `pixels × bytesPerPixel × scans`: the figure checked against a budget. */
  cost: number;
  /** Bytes held at once while decoding: `pixels × bytesPerPixel`. */
  memoryBytes: number;
}

/**
 * Reads an image's decode cost from its header (PNG IHDR; JPEG SOFn and its scan markers).
 *
 * @param bytes the encoded image
 * @returns pixels, bytes per pixel, scans and their product
 * @throws {ImageError} when the header is malformed (as {@linkcode readImageHeader})
 *
 * @example A PNG's cost
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { Image } from "imagescript";
 * import { readDecodeCost } from "./mod.ts";
 * const png = await new Image(100, 10).fill(0x336699ff).encode();
 * const c = readDecodeCost(png);
 * strictEqual(c.pixels, 1000);
 * strictEqual(c.cost, c.pixels * c.bytesPerPixel * c.scans);
 * ```
 */
export function readDecodeCost(bytes: Uint8Array): DecodeCost {
  const header = readImageHeader(bytes);
  const pixels = header.width * header.height;
  let bytesPerPixel: number;
  let scans = 1;
  if (isPng(bytes)) {
    const ihdr = readIhdr(bytes);
    const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[ihdr.colorType] ?? 4;
    bytesPerPixel = (channels * ihdr.bitDepth) / 8 + 3;
  } else if (isJpeg(bytes)) {
    const jpeg = readJpegScans(bytes);
    // Coefficients (2 bytes per sample) of every component, plus the samples and the RGB8 output.
    bytesPerPixel = jpeg.components * 3 + 3;
    scans = Math.max(1, jpeg.scans);
  } else {
    throw new ImageError("Image format is not recognised: expected PNG or JPEG");
  }
  const memoryBytes = Math.ceil(pixels * bytesPerPixel);
  return { pixels, bytesPerPixel, scans, cost: memoryBytes * scans, memoryBytes };
}

/**
 * A JPEG's component count (from SOFn) and its number of scans (SOS markers). Segments are walked
 * by their lengths up to the first scan, so thumbnails inside APPn segments are not counted; from
 * there a marker can only follow 0xFF that is not stuffing (0x00) or a restart (0xD0–0xD7).
 */
function readJpegScans(bytes: Uint8Array): { components: number; scans: number } {
  let components = 3;
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return { components, scans: 1 };
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0xda) break;
    if (marker === 0xd9) return { components, scans: 0 };
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (at + 9 < bytes.length) components = bytes[at + 9] || 1;
    }
    at += 2 + Math.max(2, length);
  }
  let scans = 0;
  for (let i = at; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xda) scans++;
  }
  return { components, scans };
}
