/**
 * Anomaly maps: a grid of patch distances brought to frame resolution. Bilinear upsampling with
 * half-pixel centres (what `torch.nn.functional.interpolate(..., mode="bilinear",
 * align_corners=False)` and Pillow do when enlarging), then an optional Gaussian blur that removes
 * the grid's blockiness and the single-patch noise that otherwise dominates pixel-level ranking.
 *
 * Both steps are linear and separable, so the map of a grid D is A·D·Bᵀ, with A (frame height ×
 * grid height) and B (frame width × grid width) each an axis's upsampling followed by its blur. The
 * two small matrices are made once per geometry and cached: a 14×14 grid to a 256×256 map is then
 * ≈ 1 million multiply-adds instead of ≈ 5 million for upsampling and blurring the frame.
 *
 * @module
 */
import { ConfigError, ShapeError } from "../../errors.ts";

/** A single-channel float map, row-major. */
export interface FloatMap {
  /** Columns. */
  width: number;
  /** Rows. */
  height: number;
  /** [height, width]. */
  data: Float32Array;
}

/** Options for {@linkcode anomalyMap}. */
export interface AnomalyMapOptions {
  /** The frame (output) width. */
  width: number;
  /** The frame (output) height. */
  height: number;
  /**
   * Standard deviation of the Gaussian blur, in output pixels; 0 turns it off.
   * @default {4}
   */
  sigma?: number;
}

/**
 * Resizes a map bilinearly with half-pixel centres; edge values are held beyond the outermost
 * centres.
 *
 * @param map the source map
 * @param size the output size
 * @returns the resized map
 * @throws {ShapeError} when the buffer does not match the size
 * @throws {ConfigError} when a size is not a positive integer
 *
 * @example A 2×1 ramp doubled
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const out = upsampleBilinear({ width: 2, height: 1, data: Float32Array.of(0, 1) }, { width: 4, height: 1 });
 * deepStrictEqual([...out.data], [0, 0.25, 0.75, 1]);
 * ```
 */
export function upsampleBilinear(map: FloatMap, size: { width: number; height: number }): FloatMap {
  checkMap(map);
  const { width: outW, height: outH } = size;
  for (const v of [outW, outH]) {
    if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`Map size must be positive integers: got ${v}`);
  }
  const xs = axisWeights(map.width, outW), ys = axisWeights(map.height, outH);
  // Rows first (outW per source row), then columns: outW·(inH + outH) lerps instead of 4 reads per pixel.
  const rows = new Float32Array(map.height * outW);
  for (let y = 0; y < map.height; y++) {
    const src = y * map.width, dst = y * outW;
    for (let x = 0; x < outW; x++) {
      const a = map.data[src + xs.lo[x]], b = map.data[src + xs.hi[x]];
      rows[dst + x] = a + (b - a) * xs.t[x];
    }
  }
  const out = new Float32Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    const a = ys.lo[y] * outW, b = ys.hi[y] * outW, t = ys.t[y], dst = y * outW;
    for (let x = 0; x < outW; x++) out[dst + x] = rows[a + x] + (rows[b + x] - rows[a + x]) * t;
  }
  return { width: outW, height: outH, data: out };
}

/** Per output index: the two source indices and the weight of the second. */
function axisWeights(inSize: number, outSize: number) {
  const lo = new Int32Array(outSize), hi = new Int32Array(outSize), t = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), inSize - 1);
    lo[i] = Math.floor(src);
    hi[i] = Math.min(lo[i] + 1, inSize - 1);
    t[i] = src - lo[i];
  }
  return { lo, hi, t };
}

/**
 * Gaussian blur, separable, kernel truncated at 4σ, borders reflected (scipy's `gaussian_filter`
 * defaults, which anomaly-detection papers use).
 *
 * @param map the map to blur
 * @param sigma the standard deviation in pixels (> 0)
 * @returns a new blurred map
 * @throws {ConfigError} when sigma is not positive
 *
 * @example A constant map is unchanged
 * ```ts
 * import { ok } from "node:assert/strict";
 * const out = gaussianBlur({ width: 5, height: 5, data: new Float32Array(25).fill(2) }, 1);
 * ok(out.data.every((v) => Math.abs(v - 2) < 1e-6));
 * ```
 */
export function gaussianBlur(map: FloatMap, sigma: number): FloatMap {
  checkMap(map);
  if (!(sigma > 0) || !Number.isFinite(sigma)) {
    throw new ConfigError(`Blur sigma must be positive: got ${sigma}`);
  }
  const radius = Math.max(1, Math.ceil(4 * sigma));
  const kernel = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    sum += kernel[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  }
  for (let i = 0; i < kernel.length; i++) kernel[i] /= sum;
  const { width, height } = map;
  const tmp = new Float32Array(width * height);
  const out = new Float32Array(width * height);
  const rx = reflectIndex(width, radius), ry = reflectIndex(height, radius);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = 0; k < kernel.length; k++) acc += kernel[k] * map.data[row + rx[x + k]];
      tmp[row + x] = acc;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = 0; k < kernel.length; k++) acc += kernel[k] * tmp[ry[y + k] * width + x];
      out[y * width + x] = acc;
    }
  }
  return { width, height, data: out };
}

/** Source index of padded position p − radius, reflected about the edges (`d c b a | a b c d | d c b a`). */
function reflectIndex(size: number, radius: number): Int32Array {
  const idx = new Int32Array(size + 2 * radius);
  for (let p = 0; p < idx.length; p++) {
    let i = p - radius;
    const period = 2 * size;
    i = ((i % period) + period) % period;
    idx[p] = i < size ? i : period - 1 - i;
  }
  return idx;
}

/**
 * The anomaly map of one frame: patch distances on their grid, upsampled to the frame and blurred.
 *
 * @param distances one distance per grid cell, row-major
 * @param opts the grid, the frame size and the blur
 * @returns the frame-sized map
 * @throws {ShapeError} when the distances do not fill the grid
 *
 * @example A single hot cell stays the hottest spot
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const d = new Float32Array(16);
 * d[5] = 1; // row 1, column 1
 * const map = anomalyMap(d, { gridH: 4, gridW: 4, width: 32, height: 32, sigma: 2 });
 * const hottest = map.data.indexOf(Math.max(...map.data));
 * strictEqual(Math.floor((hottest % 32) / 8), 1);
 * ```
 */
export function anomalyMap(
  distances: Float32Array,
  opts: AnomalyMapOptions & { gridH: number; gridW: number },
): FloatMap {
  const { gridH, gridW, width, height } = opts;
  checkMap({ width: gridW, height: gridH, data: distances });
  const sigma = opts.sigma ?? 4;
  const a = axisOperator(gridH, height, sigma), b = axisOperator(gridW, width, sigma);
  // rows = D·Bᵀ [gridH, width], then out = A·rows [height, width].
  const rows = new Float32Array(gridH * width);
  for (let y = 0; y < gridH; y++) {
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = 0; k < gridW; k++) acc += distances[y * gridW + k] * b[x * gridW + k];
      rows[y * width + x] = acc;
    }
  }
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const dst = y * width;
    for (let k = 0; k < gridH; k++) {
      const w = a[y * gridH + k];
      if (w === 0) continue;
      const src = k * width;
      for (let x = 0; x < width; x++) out[dst + x] += w * rows[src + x];
    }
  }
  return { width, height, data: out };
}

/**
 * One axis of the map as a matrix [outSize, inSize]: column j is the unit vector e_j upsampled to
 * `outSize` and blurred (a 1-pixel-high map blurs along its row only).
 */
function axisOperator(inSize: number, outSize: number, sigma: number): Float32Array {
  const key = `${inSize}:${outSize}:${sigma}`;
  let op = axisOperators.get(key);
  if (op) return op;
  op = new Float32Array(outSize * inSize);
  for (let j = 0; j < inSize; j++) {
    const unit = new Float32Array(inSize);
    unit[j] = 1;
    let line = upsampleBilinear({ width: inSize, height: 1, data: unit }, { width: outSize, height: 1 });
    if (sigma > 0) line = gaussianBlur(line, sigma);
    for (let i = 0; i < outSize; i++) op[i * inSize + j] = line.data[i];
  }
  if (axisOperators.size >= MAX_CACHED_OPERATORS) axisOperators.delete(axisOperators.keys().next().value!);
  axisOperators.set(key, op);
  return op;
}

/** Frame geometries seen recently: a station's camera keeps one, so a handful covers a service. */
const MAX_CACHED_OPERATORS = 64;
const axisOperators = new Map<string, Float32Array>();

function checkMap(map: FloatMap): void {
  if (map.data.length !== map.width * map.height || map.width <= 0 || map.height <= 0) {
    throw new ShapeError(`Map holds ${map.data.length} values, not ${map.width}×${map.height}`);
  }
}
