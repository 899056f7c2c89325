/**
 * CLIP's image preprocessing: decode, bicubic resize (with a centre crop or squashed), scale to
 * [0, 1], normalise per channel, lay out as planar [3, size, size] float32.
 *
 * The synchronous core {@linkcode preprocessRgb} takes an already decoded image, so workers and
 * batchers can decode once and reuse it.
 *
 * Frames become RGB before resizing. OpenAI's transform converts after resizing; for RGB and grey
 * frames the result is the same byte for byte, but Pillow resizes palette images with nearest
 * neighbour and RGBA ones premultiplied, so for those the two differ (we drop alpha first, as asked).
 *
 * @module
 */
import { CLIP_MEAN, CLIP_STD } from "./config.ts";
import { ConfigError } from "../errors.ts";
import { decodeImage, resizeForClip, type ResizeMode, type Rgb8Image } from "../image/mod.ts";

/** Options for {@linkcode preprocessRgb}. */
export interface PreprocessRgbOptions {
  /** Side of the square model input (224 for ViT-B/16). */
  size: number;
  /** `crop`: shorter side to `size`, centre square; `resize`: whole image to `size`×`size`. */
  mode: ResizeMode;
  /**
   * Per-channel mean subtracted after scaling to [0, 1].
   * @default {CLIP_MEAN}
   */
  mean?: [number, number, number];
  /**
   * Per-channel standard deviation divided by after subtracting the mean.
   * @default {CLIP_STD}
   */
  std?: [number, number, number];
}

/** Options for {@linkcode preprocessImage}. */
export interface PreprocessOptions extends PreprocessRgbOptions {
  /**
   * Largest accepted `width * height` of the encoded image.
   * @default {50_000_000}
   */
  maxPixels?: number;
}

/**
 * Decodes a PNG or JPEG and preprocesses it for CLIP.
 *
 * @param bytes the encoded image
 * @param opts target side, resize mode, normalisation and pixel limit
 * @returns `[3, size, size]` float32, channel-major, `(x / 255 - mean) / std`
 * @throws {ImageError} when the image cannot be decoded or exceeds `maxPixels`
 * @throws {ConfigError} when the options are invalid
 *
 * @example Preprocess a flat grey PNG
 * ```ts
 * import { ok, strictEqual } from "node:assert/strict";
 * import { Image } from "imagescript";
 * const png = await new Image(32, 48).fill(0x7a7a7aff).encode();
 * const x = await preprocessImage(png, { size: 16, mode: "crop" });
 * strictEqual(x.length, 3 * 16 * 16);
 * ok(Math.abs(x[0] - (0x7a / 255 - 0.48145466) / 0.26862954) < 1e-5);
 * ```
 */
export async function preprocessImage(bytes: Uint8Array, opts: PreprocessOptions): Promise<Float32Array> {
  checkOptions(opts);
  const image = await decodeImage(bytes, { maxPixels: opts.maxPixels });
  return preprocessRgb(image, opts);
}

/**
 * Preprocesses a decoded RGB8 image for CLIP (resize, crop, normalise); synchronous.
 *
 * @param image the decoded image
 * @param opts target side, resize mode and normalisation
 * @returns `[3, size, size]` float32, channel-major, `(x / 255 - mean) / std`
 * @throws {ConfigError} when the options are invalid
 *
 * @example Normalise a white 2×2 image with unit statistics
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const image = { width: 2, height: 2, data: new Uint8Array(12).fill(255) };
 * const x = preprocessRgb(image, { size: 1, mode: "resize", mean: [0, 0, 0], std: [1, 1, 1] });
 * deepStrictEqual([...x], [1, 1, 1]);
 * ```
 */
export function preprocessRgb(image: Rgb8Image, opts: PreprocessRgbOptions): Float32Array {
  checkOptions(opts);
  const { size } = opts;
  const resized = resizeForClip(image, { size, mode: opts.mode });
  const lut = normalisationTable(opts.mean ?? CLIP_MEAN, opts.std ?? CLIP_STD);
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  const src = resized.data;
  for (let i = 0, s = 0; i < plane; i++, s += 3) {
    out[i] = lut[src[s]];
    out[plane + i] = lut[256 + src[s + 1]];
    out[2 * plane + i] = lut[512 + src[s + 2]];
  }
  return out;
}

let cachedTable: { key: string; lut: Float32Array } | undefined;

/** Every byte value's normalised float, per channel: 768 entries instead of a divide per sample. */
function normalisationTable(mean: readonly number[], std: readonly number[]): Float32Array {
  const key = `${mean.join(",")}/${std.join(",")}`;
  if (cachedTable?.key === key) return cachedTable.lut;
  const lut = new Float32Array(768);
  for (let c = 0; c < 3; c++) {
    // float32 steps in the same order as ToTensor() then Normalize() do in torch.
    const m = Math.fround(mean[c]);
    const s = Math.fround(std[c]);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
  }
  cachedTable = { key, lut };
  return lut;
}

function checkOptions(opts: PreprocessRgbOptions): void {
  if (!Number.isInteger(opts.size) || opts.size <= 0) {
    throw new ConfigError(`Preprocess size must be a positive integer: got ${opts.size}`);
  }
  for (const [name, v] of [["mean", opts.mean], ["std", opts.std]] as const) {
    if (v === undefined) continue;
    if (v.length !== 3 || !v.every(Number.isFinite)) {
      throw new ConfigError(`Preprocess ${name} must be three finite numbers: got ${JSON.stringify(v)}`);
    }
  }
  if (opts.std?.some((s) => s === 0)) {
    throw new ConfigError(`Preprocess std must not contain zero: got ${JSON.stringify(opts.std)}`);
  }
}
