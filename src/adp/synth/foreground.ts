/**
 * Tells an object from a plain background, so that defects land on the part: a scratch on the white
 * sheet behind a bottle is not a defective bottle. Works for the common inspection set-up of one part
 * on a uniform backdrop; on textures that fill the frame (tiles, fabric, metal sheet) it reports that
 * there is no background, and defects may go anywhere.
 *
 * @module
 */
import type { Rgb8Image } from "../../image/mod.ts";

/** Options for {@linkcode estimateForeground}. */
export interface ForegroundOptions {
  /**
   * Cells along the shorter side of the coarse grid the estimate works on: coarse enough to
   * ignore texture and noise, fine enough to follow the part's outline.
   * @default {64}
   */
  grid?: number;
  /**
   * Largest spread (90th percentile of colour distance to the median, 0–255 units) the frame's border
   * may have and still count as a uniform background.
   * @default {16}
   */
  borderSpread?: number;
}

/** Colour distance beyond which a cell differs from the backdrop, at the least. */
const MIN_CONTRAST = 24;

/**
 * Estimates which pixels belong to the object: the border's median colour is taken as the backdrop
 * when the border is uniform; cells that differ from it, and everything they enclose, are the object,
 * shrunk by one cell so defects keep off the soft rim. The result is soft (bilinear between cells) so
 * that defects clipped to it fade at the outline instead of ending in a staircase.
 *
 * @param image the image
 * @param opts grid size and border uniformity limit
 * @returns `width * height` weights 0–255 (255 on the object), or undefined when the border is not a
 *   uniform backdrop or the object would cover almost none or almost all of the image
 *
 * @example A dark square on white
 * ```ts
 * import { ok, strictEqual } from "node:assert/strict";
 * const data = new Uint8Array(100 * 100 * 3).fill(250);
 * for (let y = 30; y < 70; y++) data.fill(40, (y * 100 + 30) * 3, (y * 100 + 70) * 3);
 * const fg = estimateForeground({ width: 100, height: 100, data })!;
 * strictEqual(fg[50 * 100 + 50], 255);
 * strictEqual(fg[5 * 100 + 5], 0);
 * ok(estimateForeground({ width: 10, height: 10, data: new Uint8Array(300).map((_, i) => i * 37) }) === undefined);
 * ```
 */
export function estimateForeground(image: Rgb8Image, opts: ForegroundOptions = {}): Uint8Array | undefined {
  const { width, height, data } = image;
  const cellsShort = Math.min(opts.grid ?? 64, Math.min(width, height));
  const cell = Math.min(width, height) / cellsShort;
  const gw = Math.max(1, Math.round(width / cell)), gh = Math.max(1, Math.round(height / cell));
  if (gw < 4 || gh < 4) return undefined;

  // Cell means: the grid the whole estimate runs on.
  const means = new Float32Array(gw * gh * 3);
  const counts = new Float32Array(gw * gh);
  for (let y = 0; y < height; y++) {
    const gy = Math.min(gh - 1, Math.floor((y * gh) / height));
    for (let x = 0; x < width; x++) {
      const g = gy * gw + Math.min(gw - 1, Math.floor((x * gw) / width));
      const p = (y * width + x) * 3;
      means[g * 3] += data[p];
      means[g * 3 + 1] += data[p + 1];
      means[g * 3 + 2] += data[p + 2];
      counts[g]++;
    }
  }
  for (let g = 0; g < gw * gh; g++) for (let k = 0; k < 3; k++) means[g * 3 + k] /= counts[g];

  const border: number[] = [];
  for (let gx = 0; gx < gw; gx++) border.push(gx, (gh - 1) * gw + gx);
  for (let gy = 1; gy < gh - 1; gy++) border.push(gy * gw, gy * gw + gw - 1);
  const backdrop = [0, 1, 2].map((k) => median(border.map((g) => means[g * 3 + k])));
  const distance = (g: number) =>
    Math.hypot(means[g * 3] - backdrop[0], means[g * 3 + 1] - backdrop[1], means[g * 3 + 2] - backdrop[2]);
  const spread = quantile(border.map(distance), 0.9);
  if (spread > (opts.borderSpread ?? 16)) return undefined;

  // Backdrop = cells like the border colour that the border reaches: holes in the part stay part.
  const tolerance = Math.max(MIN_CONTRAST, 3 * spread);
  const background = new Uint8Array(gw * gh);
  const queue: number[] = [];
  for (const g of border) {
    if (!background[g] && distance(g) < tolerance) background[g] = 1, queue.push(g);
  }
  while (queue.length) {
    const g = queue.pop()!;
    const gx = g % gw, gy = (g - gx) / gw;
    for (const [nx, ny] of [[gx - 1, gy], [gx + 1, gy], [gx, gy - 1], [gx, gy + 1]]) {
      if (nx < 0 || ny < 0 || nx >= gw || ny >= gh) continue;
      const n = ny * gw + nx;
      if (!background[n] && distance(n) < tolerance) background[n] = 1, queue.push(n);
    }
  }
  const object = new Float32Array(gw * gh);
  let objectCells = 0;
  for (let gy = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++) {
      let inside = true;
      for (let dy = -1; dy <= 1 && inside; dy++) {
        for (let dx = -1; dx <= 1 && inside; dx++) {
          const nx = gx + dx, ny = gy + dy;
          inside = nx >= 0 && ny >= 0 && nx < gw && ny < gh && !background[ny * gw + nx];
        }
      }
      if (inside) object[gy * gw + gx] = 1, objectCells++;
    }
  }
  const fraction = objectCells / (gw * gh);
  if (fraction < 0.03 || fraction > 0.97) return undefined;

  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max(((y + 0.5) * gh) / height - 0.5, 0), gh - 1);
    const y0 = Math.floor(fy), y1 = Math.min(y0 + 1, gh - 1), ty = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max(((x + 0.5) * gw) / width - 0.5, 0), gw - 1);
      const x0 = Math.floor(fx), x1 = Math.min(x0 + 1, gw - 1), tx = fx - x0;
      const top = object[y0 * gw + x0] + tx * (object[y0 * gw + x1] - object[y0 * gw + x0]);
      const bottom = object[y1 * gw + x0] + tx * (object[y1 * gw + x1] - object[y1 * gw + x0]);
      out[y * width + x] = Math.round(255 * (top + ty * (bottom - top)));
    }
  }
  return out;
}

function median(values: number[]): number {
  return quantile(values, 0.5);
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
