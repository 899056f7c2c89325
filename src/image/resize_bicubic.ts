/**
 * Antialiased bicubic resampling that reproduces Pillow's `Image.resize(size, BICUBIC)` (Pillow 9.4,
 * `ImagingResample` for 8-bit images) bit for bit: CLIP was trained on what Pillow produces, and a
 * resampler that is merely "also bicubic" shifts every embedding a little.
 *
 * What has to match, and why the code looks the way it does:
 * - separable passes, horizontal first, each rounded and clipped to uint8 before the next;
 * - the kernel (a = -0.5) is stretched by the downscale factor so that it averages rather than
 *   aliases, and each output pixel's weights are normalised to sum to one;
 * - weights are fixed-point integers with 22 fractional bits, rounded away from zero, and sums start
 *   at one half so that the final shift rounds;
 * - pixel centres sit at +0.5.
 *
 * A crop window computes only the part of the resized image that is kept: output pixels are
 * independent, so this is exact, and the horizontal pass then runs only over the source rows that the
 * kept output rows read.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import type { Rgb8Image } from "./rgb8_image.ts";
import { WasmKernels, WasmLayout } from "./_wasm.ts";

/**
 * How an image becomes a square CLIP input: `crop` scales the shorter side to the target and cuts the
 * centre square (OpenAI's `Resize` + `CenterCrop`); `resize` squashes the whole image to the square.
 */
export type ResizeMode = "crop" | "resize";

/** A rectangle in the resized image, in output pixels. */
export interface CropBox {
  /** Left edge, in pixels from the resized image's left. */
  left: number;
  /** Top edge, in pixels from the resized image's top. */
  top: number;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** Options for {@linkcode resizeBicubic}. */
export interface ResizeOptions {
  /** Width of the whole resized image. */
  width: number;
  /** Height of the whole resized image. */
  height: number;
  /**
   * The part of the resized image to compute and return.
   * @default {the whole image}
   */
  crop?: CropBox;
}

/** Options for {@linkcode resizeForClip}. */
export interface ClipResizeOptions {
  /** Side of the square output. */
  size: number;
  /** Whether the centre square is cut (`crop`) or the whole image squashed (`resize`). */
  mode: ResizeMode;
}

/** Where {@linkcode resizeForClip} resizes to and what it keeps of that. */
export interface ClipResizeGeometry {
  /** Width of the whole resized image. */
  width: number;
  /** Height of the whole resized image. */
  height: number;
  /** The square kept of it. */
  crop: CropBox;
}

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;
const BICUBIC_SUPPORT = 2;

/**
 * One pass's weights: output pixel i reads `count[i]` source pixels from `start[i]`, weighted by
 * `weights[i * stride …]`. The stride is even and the padding zero, so kernels may take taps in pairs.
 */
interface Coefficients {
  start: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  stride: number;
}

/**
 * Works out where the CLIP transforms resize an image to and which part they keep: the shorter side
 * to `size`, the longer one rounded (`round(size · long / short)`), then a centred crop whose offset
 * is rounded down. This is the geometry of the project's PIL reference (fixtures/preprocess);
 * torchvision truncates the long side instead, which differs by at most one pixel row or column.
 *
 * @param width source width
 * @param height source height
 * @param opts target side and mode
 * @returns the resized size and the crop box within it
 * @throws {ConfigError} when a size is not a positive integer
 *
 * @example A portrait image in crop mode
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * deepStrictEqual(clipResizeGeometry(600, 800, { size: 224, mode: "crop" }), {
 *   width: 224,
 *   height: 299,
 *   crop: { left: 0, top: 37, width: 224, height: 224 },
 * });
 * ```
 */
export function clipResizeGeometry(
  width: number,
  height: number,
  opts: ClipResizeOptions,
): ClipResizeGeometry {
  const { size, mode } = opts;
  checkSide("size", size);
  checkSide("width", width);
  checkSide("height", height);
  if (mode === "resize") {
    return { width: size, height: size, crop: { left: 0, top: 0, width: size, height: size } };
  }
  if (mode !== "crop") {
    throw new ConfigError(`Resize mode is unknown: expected "crop" or "resize", got ${mode}`);
  }
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.round((size * long) / short);
  const outW = width <= height ? size : newLong;
  const outH = width <= height ? newLong : size;
  return {
    width: outW,
    height: outH,
    crop: {
      left: Math.floor((outW - size) / 2),
      top: Math.floor((outH - size) / 2),
      width: size,
      height: size,
    },
  };
}

/**
 * Resizes and, in crop mode, centre-crops an RGB8 image to `size`×`size` the way CLIP's Pillow
 * pipeline does.
 *
 * @param image the source image
 * @param opts target side and mode
 * @returns a new `size`×`size` image
 * @throws {ConfigError} when the size or mode is invalid
 *
 * @example Shrink a 4×2 image to 2×2 by cropping
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const data = new Uint8Array(4 * 2 * 3).fill(200);
 * const out = resizeForClip({ width: 4, height: 2, data }, { size: 2, mode: "crop" });
 * strictEqual(out.width * out.height, 4);
 * strictEqual(out.data[0], 200);
 * ```
 */
export function resizeForClip(image: Rgb8Image, opts: ClipResizeOptions): Rgb8Image {
  return resizeBicubic(image, clipResizeGeometry(image.width, image.height, opts));
}

/**
 * Resizes an RGB8 image with Pillow's antialiased bicubic filter, computing only `crop` when given.
 *
 * @param image the source image
 * @param opts the whole resized size and the window of it to return
 * @returns the window of the resized image (the whole of it without `crop`)
 * @throws {ConfigError} when a size is not a positive integer or the window is outside the image
 *
 * @example Halve a flat image
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const data = new Uint8Array(4 * 4 * 3).fill(90);
 * const out = resizeBicubic({ width: 4, height: 4, data }, { width: 2, height: 2 });
 * deepStrictEqual([...out.data], new Array(12).fill(90));
 * ```
 */
export function resizeBicubic(image: Rgb8Image, opts: ResizeOptions): Rgb8Image {
  const { width: inW, height: inH, data } = image;
  const { width: outW, height: outH } = opts;
  checkSide("width", outW);
  checkSide("height", outH);
  const crop = opts.crop ?? { left: 0, top: 0, width: outW, height: outH };
  checkSide("crop width", crop.width);
  checkSide("crop height", crop.height);
  if (
    !Number.isInteger(crop.left) || !Number.isInteger(crop.top) || crop.left < 0 || crop.top < 0 ||
    crop.left + crop.width > outW || crop.top + crop.height > outH
  ) {
    throw new ConfigError(
      `Crop box is outside the resized image: ${JSON.stringify(crop)} in ${outW}×${outH}`,
    );
  }
  if (data.length !== inW * inH * 3) {
    throw new ConfigError(`Image buffer has the wrong length: ${data.length} bytes for ${inW}×${inH} RGB`);
  }
  const rowBytes = crop.width * 3;
  const inStride = inW * 3;

  // Pillow skips a pass whose size is unchanged; the identity weights would give the same bytes anyway.
  const horizontal = outW !== inW;
  const vertical = outH !== inH;
  const vc = vertical ? coefficients(inH, outH, crop.top, crop.height) : undefined;
  const hc = horizontal ? coefficients(inW, outW, crop.left, crop.width) : undefined;
  const firstRow = vc ? vc.start[0] : crop.top;
  const lastRow = vc ? vc.start[crop.height - 1] + vc.count[crop.height - 1] : crop.top + crop.height;
  const rows = lastRow - firstRow;

  // Regions carry slack: the kernels read and write whole vectors past the last pixel.
  const layout = new WasmLayout();
  const srcAt = layout.take(rows * inStride);
  const wideAt = layout.take(hc ? (inW + 1) * 16 : 0);
  const tmpAt = layout.take(hc && vc ? rows * rowBytes : 0);
  const dstAt = layout.take(crop.height * rowBytes);
  const hTables = hc && placeTables(layout, hc);
  const vTables = vc && placeTables(layout, vc);
  const { heap, run } = RESIZE_KERNELS.reserve(layout.size);
  heap.set(data.subarray(firstRow * inStride, lastRow * inStride), srcAt);

  let rowsAt = srcAt + crop.left * 3;
  let rowsStride = inStride;
  if (hTables) {
    hTables.write(heap);
    const to = vTables ? tmpAt : dstAt;
    run.horizontal(srcAt, inStride, rows, inW, crop.width, ...hTables.args, to, wideAt);
    rowsAt = to;
    rowsStride = rowBytes;
  }
  if (vTables) {
    vTables.write(heap, firstRow);
    run.vertical(rowsAt, rowsStride, rowBytes, crop.height, ...vTables.args, dstAt);
  } else if (!hTables) {
    for (let y = 0; y < crop.height; y++) {
      const from = rowsAt + y * rowsStride;
      heap.copyWithin(dstAt + y * rowBytes, from, from + rowBytes);
    }
  }
  return { width: crop.width, height: crop.height, data: heap.slice(dstAt, dstAt + crop.height * rowBytes) };
}

/** Frames repeat their size, so the weights for a (source, output, window) triple are kept. */
const coefficientCache = new Map<string, Coefficients>();
const COEFFICIENT_CACHE_LIMIT = 32;

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for output pixels `first … first+n-1`. */
function coefficients(inSize: number, outSize: number, first: number, n: number): Coefficients {
  const key = `${inSize}:${outSize}:${first}:${n}`;
  const cached = coefficientCache.get(key);
  if (cached) return cached;

  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = BICUBIC_SUPPORT * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const stride = taps + 1;
  const invScale = 1 / filterScale;
  const start = new Int32Array(n);
  const count = new Int32Array(n);
  const weights = new Int32Array(n * stride);
  const w = new Float64Array(taps);
  for (let i = 0; i < n; i++) {
    const center = (first + i + 0.5) * scale;
    // C's (int) truncates; negative values are clamped to 0 just after, so truncation is enough.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let sum = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = bicubic((x + xmin - center + 0.5) * invScale);
      sum += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = sum !== 0 ? w[x] / sum : w[x];
      weights[i * stride + x] = Math.trunc(v < 0 ? -0.5 + v * ONE : 0.5 + v * ONE);
    }
    start[i] = xmin;
    count[i] = xmax;
  }
  const c = { start, count, weights, stride };
  if (coefficientCache.size >= COEFFICIENT_CACHE_LIMIT) coefficientCache.clear();
  coefficientCache.set(key, c);
  return c;
}

/** Keys' cubic convolution kernel with a = -0.5, support 2. */
function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

function checkSide(name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) {
    throw new ConfigError(`Image ${name} must be a positive integer: got ${v}`);
  }
}

// ---------------------------------------------------------------------------------------------
// WebAssembly SIMD kernels. The passes are ≈ 10 million multiply-adds for a 900×900 frame; plain
// JavaScript spent ≈ 9.5 ms on them, these ≈ 2 ms. Arithmetic is Pillow's: int32 products and sums,
// an arithmetic shift, saturation to 0…255 (the two saturating narrows are exactly clip8).

/** The horizontal pass, one source row at a time: widen the row to one i32x4 (R, G, B, –) per pixel, then
 * each output pixel is Σ pixel × weight over its taps, two taps a turn. Output pixels are stored as four
 * bytes three apart; the fourth byte is overwritten by the next pixel (regions carry slack). */
const HORIZONTAL_KERNEL = `
  local.get $src local.set $row
  local.get $dst local.set $out
  loop ;; rows
    local.get $row local.set $p
    local.get $wide local.set $w
    i32.const 0 local.set $i
    loop ;; widen
      local.get $w
      local.get $p v128.load32_zero
      i16x8.extend_low_i8x16_u i32x4.extend_low_i16x8_u
      v128.store
      local.get $p i32.const 3 i32.add local.set $p
      local.get $w i32.const 16 i32.add local.set $w
      local.get $i i32.const 1 i32.add local.tee $i
      local.get $inWidth i32.lt_s br_if 0
    end
    i32.const 0 local.set $x
    loop ;; output pixels
      local.get $wide
      local.get $starts local.get $x i32.const 2 i32.shl i32.add i32.load
      i32.const 4 i32.shl i32.add local.set $p
      local.get $weights local.get $x local.get $strideBytes i32.mul i32.add local.set $w
      local.get $counts local.get $x i32.const 2 i32.shl i32.add i32.load
      i32.const 1 i32.add i32.const 1 i32.shr_s local.set $n
      i32.const ${HALF} i32x4.splat local.set $acc
      loop ;; taps, two a turn
        local.get $acc
        local.get $p v128.load local.get $w v128.load32_splat i32x4.mul i32x4.add
        local.get $p v128.load offset=16 local.get $w v128.load32_splat offset=4 i32x4.mul i32x4.add
        local.set $acc
        local.get $p i32.const 32 i32.add local.set $p
        local.get $w i32.const 8 i32.add local.set $w
        local.get $n i32.const 1 i32.sub local.tee $n br_if 0
      end
      local.get $out
      local.get $acc i32.const ${PRECISION_BITS} i32x4.shr_s local.tee $acc
      local.get $acc i16x8.narrow_i32x4_s local.tee $acc
      local.get $acc i8x16.narrow_i16x8_u
      v128.store32_lane 0
      local.get $out i32.const 3 i32.add local.set $out
      local.get $x i32.const 1 i32.add local.tee $x
      local.get $outWidth i32.lt_s br_if 0
    end
    local.get $row local.get $srcStride i32.add local.set $row
    local.get $y i32.const 1 i32.add local.tee $y
    local.get $rows i32.lt_s br_if 0
  end
`;

/** The vertical pass, sixteen bytes of an output row at a time (four i32x4 accumulators); the last chunk
 * of a row spills into the next row, which is written afterwards. */
const VERTICAL_KERNEL = `
  loop ;; output rows
    local.get $src
    local.get $starts local.get $y i32.const 2 i32.shl i32.add i32.load
    local.get $srcStride i32.mul i32.add local.set $base
    local.get $weights local.get $y local.get $strideBytes i32.mul i32.add local.set $rowWeights
    local.get $counts local.get $y i32.const 2 i32.shl i32.add i32.load local.set $taps
    local.get $dst local.get $y local.get $rowBytes i32.mul i32.add local.set $out
    i32.const 0 local.set $x
    loop ;; sixteen bytes
      i32.const ${HALF} i32x4.splat local.tee $a0 local.tee $a1 local.tee $a2 local.set $a3
      local.get $base local.get $x i32.add local.set $p
      local.get $rowWeights local.set $w
      local.get $taps local.set $n
      loop ;; taps
        local.get $p v128.load local.tee $v i16x8.extend_low_i8x16_u local.set $lo
        local.get $v i16x8.extend_high_i8x16_u local.set $hi
        local.get $w v128.load32_splat local.set $k
        local.get $a0 local.get $lo i32x4.extend_low_i16x8_u local.get $k i32x4.mul i32x4.add local.set $a0
        local.get $a1 local.get $lo i32x4.extend_high_i16x8_u local.get $k i32x4.mul i32x4.add local.set $a1
        local.get $a2 local.get $hi i32x4.extend_low_i16x8_u local.get $k i32x4.mul i32x4.add local.set $a2
        local.get $a3 local.get $hi i32x4.extend_high_i16x8_u local.get $k i32x4.mul i32x4.add local.set $a3
        local.get $p local.get $srcStride i32.add local.set $p
        local.get $w i32.const 4 i32.add local.set $w
        local.get $n i32.const 1 i32.sub local.tee $n br_if 0
      end
      local.get $out
      local.get $a0 i32.const ${PRECISION_BITS} i32x4.shr_s
      local.get $a1 i32.const ${PRECISION_BITS} i32x4.shr_s i16x8.narrow_i32x4_s
      local.get $a2 i32.const ${PRECISION_BITS} i32x4.shr_s
      local.get $a3 i32.const ${PRECISION_BITS} i32x4.shr_s i16x8.narrow_i32x4_s
      i8x16.narrow_i16x8_u
      v128.store
      local.get $out i32.const 16 i32.add local.set $out
      local.get $x i32.const 16 i32.add local.tee $x
      local.get $rowBytes i32.lt_s br_if 0
    end
    local.get $y i32.const 1 i32.add local.tee $y
    local.get $outHeight i32.lt_s br_if 0
  end
`;

const RESIZE_KERNELS = new WasmKernels([
  {
    name: "horizontal",
    params: [
      "src",
      "srcStride",
      "rows",
      "inWidth",
      "outWidth",
      "starts",
      "counts",
      "weights",
      "strideBytes",
      "dst",
      "wide",
    ],
    locals: {
      y: "i32",
      x: "i32",
      i: "i32",
      p: "i32",
      w: "i32",
      n: "i32",
      row: "i32",
      out: "i32",
      acc: "v128",
    },
    body: HORIZONTAL_KERNEL,
  },
  {
    name: "vertical",
    params: [
      "src",
      "srcStride",
      "rowBytes",
      "outHeight",
      "starts",
      "counts",
      "weights",
      "strideBytes",
      "dst",
    ],
    locals: {
      y: "i32",
      x: "i32",
      p: "i32",
      w: "i32",
      n: "i32",
      base: "i32",
      rowWeights: "i32",
      taps: "i32",
      out: "i32",
      a0: "v128",
      a1: "v128",
      a2: "v128",
      a3: "v128",
      v: "v128",
      lo: "v128",
      hi: "v128",
      k: "v128",
    },
    body: VERTICAL_KERNEL,
  },
]);

/** Places a coefficient table in kernel memory; `write` copies it in, starts relative to `firstRow`. */
function placeTables(layout: WasmLayout, c: Coefficients) {
  const startsAt = layout.take(c.start.byteLength);
  const countsAt = layout.take(c.count.byteLength);
  const weightsAt = layout.take(c.weights.byteLength);
  return {
    args: [startsAt, countsAt, weightsAt, c.stride * 4],
    write(heap: Uint8Array, firstRow = 0): void {
      const ints = new Int32Array(heap.buffer);
      for (let i = 0; i < c.start.length; i++) ints[(startsAt >> 2) + i] = c.start[i] - firstRow;
      ints.set(c.count, countsAt >> 2);
      ints.set(c.weights, weightsAt >> 2);
    },
  };
}
