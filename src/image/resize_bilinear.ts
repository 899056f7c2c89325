/**
 * Pillow's antialiased bilinear resampling (`Image.resize(size, BILINEAR)`, Pillow ≥ 9, 8-bit
 * images) for any number of interleaved channels: the proxy backbone's published baseline resizes
 * frames and masks this way, and a resampler that is merely "also bilinear" (no antialiasing on
 * downscale) sees a 900-pixel bottle through a very different low-pass filter.
 *
 * What has to match, as in `src/clip/resize.ts` (which does the same for bicubic): separable passes,
 * horizontal first over only the rows the vertical pass reads, each rounded and clipped to uint8; the
 * triangle kernel widened by the downscale factor; weights normalised, then fixed-point with 22
 * fractional bits rounded away from zero; sums starting at one half; pixel centres at +0.5.
 *
 * Plain JavaScript: a 900×900 RGB frame to 224×224 is ≈ 7 million multiply-adds (a few ms).
 *
 * @module
 */
import { ConfigError } from "../errors.ts";

/** An 8-bit raster with `channels` interleaved samples per pixel, rows top to bottom. */
export interface Raster8 {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Samples per pixel. */
  channels: number;
  /** `width * height * channels` bytes. */
  data: Uint8Array;
}

const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

interface Coefficients {
  start: Int32Array;
  count: Int32Array;
  /** `taps` integer weights per output pixel. */
  weights: Float64Array;
  taps: number;
}

/**
 * Resizes an 8-bit raster with Pillow's bilinear filter.
 *
 * @param image the source raster (1 to 4 channels)
 * @param opts the output size
 * @returns a new raster of the requested size with the same channels
 * @throws {ConfigError} when a size is not a positive integer or the buffer length is wrong
 *
 * @example Halve a flat grey image
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const image = { width: 4, height: 4, channels: 1, data: new Uint8Array(16).fill(90) };
 * const out = resizeBilinear(image, { width: 2, height: 2 });
 * deepStrictEqual([...out.data], [90, 90, 90, 90]);
 * ```
 */
export function resizeBilinear(image: Raster8, opts: { width: number; height: number }): Raster8 {
  const { width: inW, height: inH, channels, data } = image;
  const { width: outW, height: outH } = opts;
  for (
    const [name, v] of [["width", outW], ["height", outH], ["source width", inW], ["source height", inH]]
  ) {
    if (!Number.isInteger(v) || (v as number) <= 0) {
      throw new ConfigError(`Resize ${name} must be a positive integer: got ${v}`);
    }
  }
  if (!Number.isInteger(channels) || channels < 1 || data.length !== inW * inH * channels) {
    throw new ConfigError(
      `Raster buffer has the wrong length: ${data.length} bytes for ${inW}×${inH}×${channels}`,
    );
  }
  if (outW === inW && outH === inH) return { width: inW, height: inH, channels, data: data.slice() };

  const vc = outH !== inH ? coefficients(inH, outH) : undefined;
  const firstRow = vc ? vc.start[0] : 0;
  const lastRow = vc ? vc.start[outH - 1] + vc.count[outH - 1] : inH;

  let rows = data.subarray(firstRow * inW * channels, lastRow * inW * channels);
  let rowWidth = inW;
  if (outW !== inW) {
    rows = horizontalPass(rows, lastRow - firstRow, inW, channels, coefficients(inW, outW));
    rowWidth = outW;
  }
  const out = vc ? verticalPass(rows, rowWidth, channels, vc, firstRow) : rows.slice();
  return { width: outW, height: outH, channels, data: out };
}

function horizontalPass(
  src: Uint8Array,
  rows: number,
  inW: number,
  channels: number,
  c: Coefficients,
): Uint8Array {
  const outW = c.start.length;
  const out = new Uint8Array(rows * outW * channels);
  for (let y = 0; y < rows; y++) {
    const rowIn = y * inW * channels, rowOut = y * outW * channels;
    for (let x = 0; x < outW; x++) {
      const base = rowIn + c.start[x] * channels, k = x * c.taps, n = c.count[x];
      for (let ch = 0; ch < channels; ch++) {
        let sum = HALF;
        for (let t = 0; t < n; t++) sum += src[base + t * channels + ch] * c.weights[k + t];
        out[rowOut + x * channels + ch] = clip8(sum);
      }
    }
  }
  return out;
}

function verticalPass(
  src: Uint8Array,
  width: number,
  channels: number,
  c: Coefficients,
  firstRow: number,
): Uint8Array {
  const outH = c.start.length, stride = width * channels;
  const out = new Uint8Array(outH * stride);
  for (let y = 0; y < outH; y++) {
    const base = (c.start[y] - firstRow) * stride, k = y * c.taps, n = c.count[y];
    for (let i = 0; i < stride; i++) {
      let sum = HALF;
      for (let t = 0; t < n; t++) sum += src[base + t * stride + i] * c.weights[k + t];
      out[y * stride + i] = clip8(sum);
    }
  }
  return out;
}

/** Pillow's `clip8` of a fixed-point sum: an arithmetic shift, then saturation to 0…255. */
function clip8(sum: number): number {
  const v = Math.floor(sum / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Pillow's `precompute_coeffs` with the triangle filter, then `normalize_coeffs_8bpc`. */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's support is 1, widened when shrinking
  const taps = Math.ceil(support) * 2 + 1;
  const invScale = 1 / filterScale;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * taps);
  const w = new Float64Array(taps);
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    // C's (int) truncates; negative values are clamped to 0 just after, so truncation is enough.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const count_ = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < count_; x++) {
      w[x] = triangle((x + xmin - center + 0.5) * invScale);
      sum += w[x];
    }
    for (let x = 0; x < count_; x++) {
      const v = sum !== 0 ? w[x] / sum : w[x];
      weights[i * taps + x] = Math.trunc(v < 0 ? -0.5 + v * ONE : 0.5 + v * ONE);
    }
    start[i] = xmin;
    count[i] = count_;
  }
  return { start, count, weights, taps };
}

function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}
