/**
 * Views of a normal image for the patch memory: flips and quarter turns. With K = 1 the memory holds
 * one image's patches; a defect-free surface seen mirrored or turned is still defect-free, and its
 * patches cover orientations of texture and edges that the one shot happened not to show.
 *
 * @module
 */
import { ConfigError } from "../../errors.ts";
import type { Rgb8Image } from "../../image/mod.ts";

/** The eight symmetries of the square (the dihedral group D4). */
export const VIEWS = [
  "identity",
  "flipH",
  "flipV",
  "rot90",
  "rot180",
  "rot270",
  "transpose",
  "antiTranspose",
] as const;

/** One symmetry of the square. */
export type View = typeof VIEWS[number];

/**
 * The image seen through `view`. Quarter turns and transposes swap width and height.
 *
 * @param image the source image
 * @param view the symmetry
 * @returns a new image
 * @throws {ConfigError} when the view is unknown
 *
 * @example A 2×1 image turned a quarter clockwise becomes 1×2
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const img = { width: 2, height: 1, data: Uint8Array.of(1, 1, 1, 2, 2, 2) };
 * const out = viewOf(img, "rot90");
 * deepStrictEqual([out.width, out.height, out.data[0], out.data[3]], [1, 2, 1, 2]);
 * ```
 */
export function viewOf(image: Rgb8Image, view: View): Rgb8Image {
  const { width: w, height: h, data } = image;
  // For each output pixel (x, y): the source pixel, as (column, row) = (a·x + b·y + c, d·x + e·y + f).
  let map: (x: number, y: number) => [number, number];
  let outW = w, outH = h;
  switch (view) {
    case "identity":
      return { width: w, height: h, data: data.slice() };
    case "flipH":
      map = (x, y) => [w - 1 - x, y];
      break;
    case "flipV":
      map = (x, y) => [x, h - 1 - y];
      break;
    case "rot180":
      map = (x, y) => [w - 1 - x, h - 1 - y];
      break;
    case "rot90": // clockwise: output row y is source column y read bottom-up
      [outW, outH] = [h, w];
      map = (x, y) => [y, h - 1 - x];
      break;
    case "rot270":
      [outW, outH] = [h, w];
      map = (x, y) => [w - 1 - y, x];
      break;
    case "transpose":
      [outW, outH] = [h, w];
      map = (x, y) => [y, x];
      break;
    case "antiTranspose":
      [outW, outH] = [h, w];
      map = (x, y) => [w - 1 - y, h - 1 - x];
      break;
    default:
      throw new ConfigError(`View is unknown: expected one of ${VIEWS.join(", ")}, got ${view}`);
  }
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const [sx, sy] = map(x, y);
      const s = (sy * w + sx) * 3, d = (y * outW + x) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { width: outW, height: outH, data: out };
}

/**
 * Where each cell of a `width`×`height` grid goes under `view`: entry j of the result is the source
 * cell (row-major index) that lands on cell j of the viewed grid. A distance grid computed on a viewed
 * frame is brought back with `back[source[j]] = viewed[j]`.
 *
 * @param size the grid's width and height (before the view)
 * @param view the symmetry
 * @returns for each viewed cell, its source cell
 *
 * @example A horizontal flip of a 3×1 grid reverses it
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * deepStrictEqual([...viewSourceCells({ width: 3, height: 1 }, "flipH")], [2, 1, 0]);
 * ```
 */
export function viewSourceCells(size: { width: number; height: number }, view: View): Int32Array {
  const { width, height } = size;
  // The cell indices written into the colour channels of a tiny image, which then takes the view.
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set([i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff], i * 3);
  const viewed = viewOf({ width, height, data }, view);
  const out = new Int32Array(width * height);
  for (let j = 0; j < out.length; j++) {
    out[j] = viewed.data[j * 3] | (viewed.data[j * 3 + 1] << 8) | (viewed.data[j * 3 + 2] << 16);
  }
  return out;
}
