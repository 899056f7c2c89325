/**
 * A contact sheet of pseudo-anomalies for a person to judge: whether a defect looks like a defect is
 * not something a test can assert.
 *
 * @module
 */
import { resizeBicubic, type Rgb8Image } from "../../image/mod.ts";
import type { PseudoAnomaly } from "./pseudo_anomaly.ts";

/** Options for {@linkcode contactSheet}. */
export interface ContactSheetOptions {
  /**
   * Side of each square tile in pixels; images are fitted inside it, aspect kept.
   * @default {224}
   */
  tile?: number;
  /**
   * Pseudo-anomalies per row; each takes two tiles (as is, and with its mask outlined).
   * @default {4}
   */
  columns?: number;
}

const GAP = 4;
const BACKGROUND = [40, 40, 40];
const OUTLINE = [255, 0, 0];

/**
 * Lays out the originals in the first row, then each pseudo-anomaly twice side by side: as it is,
 * and with its mask's outline drawn in red.
 *
 * @param originals the normal images the anomalies were made from
 * @param anomalies the pseudo-anomalies
 * @param opts tile size and anomalies per row
 * @returns the sheet
 *
 * @example Two anomalies on one row under one original
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const img = { width: 8, height: 8, data: new Uint8Array(192).fill(128) };
 * const mask = new Uint8Array(64);
 * mask[27] = 255;
 * const a = { image: img, mask, kind: "spot" };
 * const sheet = contactSheet([img], [a, a], { tile: 8, columns: 2 });
 * strictEqual(sheet.width, 4 * 8 + 5 * 4);
 * strictEqual(sheet.height, 2 * 8 + 3 * 4);
 * ```
 */
export function contactSheet(
  originals: Rgb8Image[],
  anomalies: PseudoAnomaly[],
  opts: ContactSheetOptions = {},
): Rgb8Image {
  const tile = opts.tile ?? 224;
  const columns = opts.columns ?? 4;
  const perRow = Math.max(2 * columns, 1);
  const anomalyRows = Math.ceil(anomalies.length / columns);
  const originalRows = Math.ceil(originals.length / perRow);
  const rows = originalRows + anomalyRows;
  const width = perRow * tile + (perRow + 1) * GAP;
  const height = Math.max(rows, 1) * tile + (Math.max(rows, 1) + 1) * GAP;
  const sheet = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) sheet.set(BACKGROUND, i * 3);
  const canvas = { width, height, data: sheet };
  const at = (slot: number, row: number) => ({
    x: GAP + slot * (tile + GAP),
    y: GAP + row * (tile + GAP),
  });

  originals.forEach((img, i) => place(canvas, img, undefined, tile, at(i % perRow, Math.floor(i / perRow))));
  anomalies.forEach((a, i) => {
    const row = originalRows + Math.floor(i / columns);
    const slot = 2 * (i % columns);
    place(canvas, a.image, undefined, tile, at(slot, row));
    place(canvas, a.image, a.mask, tile, at(slot + 1, row));
  });
  return canvas;
}

/** Draws `image` fitted into a tile at `pos`, with `mask`'s outline in red when given. */
function place(
  canvas: Rgb8Image,
  image: Rgb8Image,
  mask: Uint8Array | undefined,
  tile: number,
  pos: { x: number; y: number },
): void {
  const f = Math.min(tile / image.width, tile / image.height);
  const w = Math.max(1, Math.round(image.width * f)), h = Math.max(1, Math.round(image.height * f));
  const fitted = w === image.width && h === image.height
    ? image
    : resizeBicubic(image, { width: w, height: h });
  const ox = pos.x + Math.floor((tile - w) / 2), oy = pos.y + Math.floor((tile - h) / 2);
  for (let y = 0; y < h; y++) {
    const from = y * w * 3;
    canvas.data.set(fitted.data.subarray(from, from + w * 3), ((oy + y) * canvas.width + ox) * 3);
  }
  if (!mask) return;
  // Outline in tile pixels: a mask pixel with an unmasked 4-neighbour, found on the nearest-sampled mask.
  const inMask = (x: number, y: number) =>
    x >= 0 && y >= 0 && x < w && y < h &&
    mask[
        Math.min(image.height - 1, Math.floor(y / f)) * image.width +
        Math.min(image.width - 1, Math.floor(x / f))
      ] > 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!inMask(x, y)) continue;
      if (inMask(x - 1, y) && inMask(x + 1, y) && inMask(x, y - 1) && inMask(x, y + 1)) continue;
      canvas.data.set(OUTLINE, ((oy + y) * canvas.width + ox + x) * 3);
    }
  }
}
