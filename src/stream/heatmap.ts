/**
 * What an anomaly event says about the map: the hot regions (connected areas above a level between
 * the map's median and its peak, as bounding boxes in frame pixels), and the heat-map overlay
 * (the map in a blue-to-red palette blended over the frame) as RGBA for a PNG encoder. Pure
 * functions on typed arrays: the overlay runs in the decode workers.
 *
 * @module
 */
import type { Rgb8Image } from "../image/mod.ts";
import type { AnomalyRegion, MapSummary } from "./messages.ts";

/** Regions reported per anomaly event. */
export const MAX_REGIONS = 5;
/** Where between median and peak a pixel counts as hot. */
const REGION_LEVEL = 0.6;

/**
 * Summarises an anomaly map: range, level, and the hottest connected regions above the level,
 * their boxes scaled to the frame.
 *
 * @param map the map, row-major `[height, width]`
 * @param size the map's size
 * @param frame the frame's size
 * @returns the summary, regions hottest first
 *
 * @example One hot square
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const map = new Float32Array(16);
 * map[5] = map[6] = map[9] = map[10] = 1;
 * const s = summarizeMap(map, { width: 4, height: 4 }, { width: 40, height: 40 });
 * deepStrictEqual(s.regions, [{ x: 10, y: 10, width: 20, height: 20, peak: 1, area: 0.25 }]);
 * ```
 */
export function summarizeMap(
  map: Float32Array,
  size: { width: number; height: number },
  frame: { width: number; height: number },
): MapSummary {
  const { width, height } = size;
  let min = Infinity, max = -Infinity;
  for (const v of map) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    return { width, height, min: 0, max: 0, level: 0, regions: [] };
  }
  const median = medianOf(map);
  const level = median + REGION_LEVEL * (max - median);
  const regions: AnomalyRegion[] = [];
  if (max > median) {
    const label = new Int32Array(map.length).fill(-1);
    const stack: number[] = [];
    const sx = frame.width / width, sy = frame.height / height;
    for (let start = 0; start < map.length; start++) {
      if (label[start] !== -1 || map[start] < level) continue;
      let x0 = width, y0 = height, x1 = -1, y1 = -1, peak = -Infinity, count = 0;
      label[start] = start;
      stack.push(start);
      while (stack.length) {
        const i = stack.pop()!;
        const x = i % width, y = (i - x) / width;
        count++;
        if (map[i] > peak) peak = map[i];
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
        const neighbours = [
          x > 0 ? i - 1 : -1,
          x < width - 1 ? i + 1 : -1,
          y > 0 ? i - width : -1,
          y < height - 1 ? i + width : -1,
        ];
        for (const n of neighbours) {
          if (n >= 0 && label[n] === -1 && map[n] >= level) {
            label[n] = start;
            stack.push(n);
          }
        }
      }
      const x = Math.floor(x0 * sx), y = Math.floor(y0 * sy);
      regions.push({
        x,
        y,
        width: Math.min(frame.width, Math.ceil((x1 + 1) * sx)) - x,
        height: Math.min(frame.height, Math.ceil((y1 + 1) * sy)) - y,
        peak,
        area: count / map.length,
      });
    }
  }
  regions.sort((a, b) => b.peak - a.peak || b.area - a.area);
  const grid = coarseGrid(map, size, min, max);
  return { width, height, min, max, level, regions: regions.slice(0, MAX_REGIONS), grid };
}

/** Longest side of the coarse grid sent with an anomaly event. */
export const GRID_MAX_SIDE = 32;

/** The map reduced to at most {@linkcode GRID_MAX_SIDE} cells a side (max pooling), bytes in base64. */
function coarseGrid(
  map: Float32Array,
  size: { width: number; height: number },
  min: number,
  max: number,
): { width: number; height: number; data: string } {
  const scale = Math.min(1, GRID_MAX_SIDE / Math.max(size.width, size.height));
  const width = Math.max(1, Math.round(size.width * scale));
  const height = Math.max(1, Math.round(size.height * scale));
  const cells = new Float32Array(width * height).fill(-Infinity);
  const column = new Int32Array(size.width);
  for (let x = 0; x < size.width; x++) column[x] = Math.min(width - 1, Math.floor((x * width) / size.width));
  for (let y = 0, i = 0; y < size.height; y++) {
    const row = Math.min(height - 1, Math.floor((y * height) / size.height)) * width;
    for (let x = 0; x < size.width; x++, i++) {
      const c = row + column[x];
      if (map[i] > cells[c]) cells[c] = map[i];
    }
  }
  const span = max > min ? max - min : 1;
  const bytes = new Uint8Array(cells.length);
  for (let i = 0; i < cells.length; i++) bytes[i] = Math.round(255 * Math.max(0, (cells[i] - min) / span));
  return { width, height, data: btoa(String.fromCharCode(...bytes)) };
}

function medianOf(map: Float32Array): number {
  // A strided sample is plenty for a level and keeps a 256×256 map from being sorted whole.
  const step = Math.max(1, Math.floor(map.length / 4096));
  const sample: number[] = [];
  for (let i = 0; i < map.length; i += step) sample.push(map[i]);
  sample.sort((a, b) => a - b);
  return sample[sample.length >> 1];
}

/** Options of {@linkcode renderOverlay}. */
export interface OverlayOptions {
  /** Longest side of the output; the frame is reduced to it (never enlarged). @default 512 */
  maxSide?: number;
  /** Weight of the heat colour over the frame. @default 0.45 */
  alpha?: number;
}

/**
 * The map blended over the frame, as RGBA (for imagescript's `Image`). The map is stretched over
 * the frame and normalised to its own range, so the hottest spot is red and the coolest blue.
 *
 * @param frame the decoded frame
 * @param map the anomaly map `[mapHeight, mapWidth]`
 * @param size the map's size
 * @param opts output size and blending
 * @returns RGBA pixels with their size
 *
 * @example Hot and cold pixels
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const frame = { width: 2, height: 1, data: new Uint8Array(6) };
 * const out = renderOverlay(frame, Float32Array.of(1, 0), { width: 2, height: 1 }, { alpha: 1 });
 * // The hot pixel leans red, the cold one blue.
 * strictEqual(out.rgba[0] > out.rgba[2] && out.rgba[6] > out.rgba[4], true);
 * ```
 */
export function renderOverlay(
  frame: Rgb8Image,
  map: Float32Array,
  size: { width: number; height: number },
  opts: OverlayOptions = {},
): { width: number; height: number; rgba: Uint8ClampedArray } {
  const maxSide = opts.maxSide ?? 512;
  const alpha = opts.alpha ?? 0.45;
  const scale = Math.min(1, maxSide / Math.max(frame.width, frame.height));
  const width = Math.max(1, Math.round(frame.width * scale));
  const height = Math.max(1, Math.round(frame.height * scale));
  let min = Infinity, max = -Infinity;
  for (const v of map) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max > min ? max - min : 1;
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    const fy = Math.min(frame.height - 1, Math.floor(((y + 0.5) * frame.height) / height));
    const my = Math.min(size.height - 1, Math.floor(((y + 0.5) * size.height) / height));
    for (let x = 0; x < width; x++) {
      const fx = Math.min(frame.width - 1, Math.floor(((x + 0.5) * frame.width) / width));
      const mx = Math.min(size.width - 1, Math.floor(((x + 0.5) * size.width) / width));
      const t = (map[my * size.width + mx] - min) / span;
      const [r, g, b] = heatColour(t);
      const s = (fy * frame.width + fx) * 3, o = (y * width + x) * 4;
      rgba[o] = frame.data[s] * (1 - alpha) + r * alpha;
      rgba[o + 1] = frame.data[s + 1] * (1 - alpha) + g * alpha;
      rgba[o + 2] = frame.data[s + 2] * (1 - alpha) + b * alpha;
      rgba[o + 3] = 255;
    }
  }
  return { width, height, rgba };
}

/**
 * The frame reduced to the size {@linkcode renderOverlay} would render it at, sampled as it samples:
 * the overlay of the preview is the overlay of the frame, pixel for pixel, so the full-resolution
 * frame need not be kept for the heat map.
 *
 * @param frame the decoded frame
 * @param maxSide the overlay's longest side
 * @returns the frame itself when it is no larger, else a reduced copy
 */
export function previewForOverlay(frame: Rgb8Image, maxSide: number): Rgb8Image {
  const scale = Math.min(1, maxSide / Math.max(frame.width, frame.height));
  if (scale === 1) return frame;
  const width = Math.max(1, Math.round(frame.width * scale));
  const height = Math.max(1, Math.round(frame.height * scale));
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const fy = Math.min(frame.height - 1, Math.floor(((y + 0.5) * frame.height) / height));
    for (let x = 0; x < width; x++) {
      const fx = Math.min(frame.width - 1, Math.floor(((x + 0.5) * frame.width) / width));
      const s = (fy * frame.width + fx) * 3, o = (y * width + x) * 3;
      data[o] = frame.data[s];
      data[o + 1] = frame.data[s + 1];
      data[o + 2] = frame.data[s + 2];
    }
  }
  return { width, height, data };
}

/** A jet-like palette: blue → cyan → yellow → red for t in [0, 1]. */
function heatColour(t: number): [number, number, number] {
  const c = (v: number) => Math.round(255 * Math.min(1, Math.max(0, v)));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}
