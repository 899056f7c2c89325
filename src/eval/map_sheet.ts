/**
 * A contact sheet of anomaly maps as a PNG: each test image fitted into a square tile with its map
 * blended over it in a blue-to-red palette, the ground-truth outline in white, and the tile framed
 * green (good part) or red (defective part). Every tile shares one colour scale (from the 1st to the
 * 99.9th percentile of all shown maps), so a hot tile is hot compared with the others, not merely
 * with itself. Pure: tiles in, PNG bytes out (imagescript's encoder).
 *
 * @module
 */
import { Image } from "imagescript";
import { resizeBilinear, type Rgb8Image } from "../image/mod.ts";
import { upsampleBilinear } from "../adp/patch/mod.ts";
import { ShapeError } from "../errors.ts";
import type { MapSize } from "../metrics/mod.ts";

/** One image on the sheet. */
export interface SheetTile {
  image: Rgb8Image;
  /** The anomaly map, row-major. */
  map: Float32Array;
  mapSize: MapSize;
  /** The ground truth at the map's size (non-zero = defect); absent for good parts. */
  mask?: Uint8Array;
  label: 0 | 1;
}

/** Options of {@linkcode renderMapSheet}. */
export interface MapSheetOptions {
  /** Side of a tile in pixels. @default {144} */
  tileSize?: number;
  /** Tiles per row. @default {8} */
  columns?: number;
  /** Weight of the heat colour over the image. @default {0.5} */
  alpha?: number;
}

const GAP = 4;
const FRAME = 3;
const GOOD_FRAME = [0, 158, 115];
const DEFECT_FRAME = [213, 94, 0];

/**
 * Renders the sheet.
 *
 * @param tiles the images with their maps
 * @param opts tile size, columns and blending
 * @returns the PNG file's bytes
 * @throws {ShapeError} when a map or mask does not match its size, or there are no tiles
 *
 * @example Two 4×4 tiles
 * ```ts
 * import { ok } from "node:assert/strict";
 * const image = { width: 4, height: 4, data: new Uint8Array(48).fill(128) };
 * const map = new Float32Array(16).map((_, i) => i);
 * const png = await renderMapSheet(
 *   [{ image, map, mapSize: { width: 4, height: 4 }, label: 0 }, { image, map, mapSize: { width: 4, height: 4 }, label: 1 }],
 *   { tileSize: 16 },
 * );
 * ok(png[1] === 0x50 && png[2] === 0x4e && png[3] === 0x47); // "PNG"
 * ```
 */
export async function renderMapSheet(
  tiles: readonly SheetTile[],
  opts: MapSheetOptions = {},
): Promise<Uint8Array> {
  if (!tiles.length) throw new ShapeError("A map sheet needs at least one tile");
  const tile = opts.tileSize ?? 144, alpha = opts.alpha ?? 0.5;
  const columns = Math.min(opts.columns ?? 8, tiles.length);
  const rows = Math.ceil(tiles.length / columns);
  const inner = tile - 2 * FRAME;
  const fitted = tiles.map((t) => fitTile(t, inner));
  const { low, high } = sharedRange(fitted.map((f) => f.map));
  const width = columns * tile + (columns + 1) * GAP, height = rows * tile + (rows + 1) * GAP;
  const sheet = new Image(width, height);
  const rgba = sheet.bitmap;
  for (let i = 0; i < rgba.length; i += 4) rgba.set([32, 32, 32, 255], i);
  fitted.forEach((f, i) => {
    const ox = GAP + (i % columns) * (tile + GAP), oy = GAP + Math.floor(i / columns) * (tile + GAP);
    const frame = tiles[i].label ? DEFECT_FRAME : GOOD_FRAME;
    for (let y = 0; y < tile; y++) {
      for (let x = 0; x < tile; x++) {
        if (x >= FRAME && x < tile - FRAME && y >= FRAME && y < tile - FRAME) continue;
        rgba.set([...frame, 255], ((oy + y) * width + ox + x) * 4);
      }
    }
    const dx = ox + FRAME + Math.floor((inner - f.width) / 2),
      dy = oy + FRAME + Math.floor((inner - f.height) / 2);
    for (let y = 0; y < f.height; y++) {
      for (let x = 0; x < f.width; x++) {
        const p = y * f.width + x, o = ((dy + y) * width + dx + x) * 4;
        if (f.edge[p]) {
          rgba[o] = rgba[o + 1] = rgba[o + 2] = 255;
          continue;
        }
        const [r, g, b] = heatColour((f.map[p] - low) / (high - low));
        rgba[o] = f.rgb[3 * p] * (1 - alpha) + r * alpha;
        rgba[o + 1] = f.rgb[3 * p + 1] * (1 - alpha) + g * alpha;
        rgba[o + 2] = f.rgb[3 * p + 2] * (1 - alpha) + b * alpha;
      }
    }
  });
  return await sheet.encode(1);
}

/** A tile's image, map and mask outline at the size that fits `side` with the aspect ratio kept. */
function fitTile(t: SheetTile, side: number) {
  if (t.map.length !== t.mapSize.width * t.mapSize.height) {
    throw new ShapeError(`Map holds ${t.map.length} values, not ${t.mapSize.width}×${t.mapSize.height}`);
  }
  if (t.mask && t.mask.length !== t.map.length) {
    throw new ShapeError(`Mask holds ${t.mask.length} values, its map ${t.map.length}`);
  }
  const scale = side / Math.max(t.image.width, t.image.height);
  const width = Math.max(1, Math.round(t.image.width * scale)),
    height = Math.max(1, Math.round(t.image.height * scale));
  const rgb = resizeBilinear({ ...t.image, channels: 3 }, { width, height }).data;
  const map = upsampleBilinear({ ...t.mapSize, data: t.map }, { width, height }).data;
  const edge = new Uint8Array(width * height);
  if (t.mask) {
    // Nearest sampling of the mask, then the pixels inside with a 4-neighbour outside: the outline.
    const inside = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      const my = Math.min(t.mapSize.height - 1, Math.floor(((y + 0.5) * t.mapSize.height) / height));
      for (let x = 0; x < width; x++) {
        const mx = Math.min(t.mapSize.width - 1, Math.floor(((x + 0.5) * t.mapSize.width) / width));
        inside[y * width + x] = t.mask[my * t.mapSize.width + mx] ? 1 : 0;
      }
    }
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = y * width + x;
        if (!inside[p]) continue;
        const out = (xx: number, yy: number) =>
          xx < 0 || yy < 0 || xx >= width || yy >= height || !inside[yy * width + xx];
        if (out(x - 1, y) || out(x + 1, y) || out(x, y - 1) || out(x, y + 1)) edge[p] = 1;
      }
    }
  }
  return { width, height, rgb, map, edge };
}

/** The 1st and 99.9th percentiles of every shown map value: one colour scale for the sheet. */
function sharedRange(maps: readonly Float32Array[]): { low: number; high: number } {
  let n = 0;
  for (const m of maps) n += m.length;
  const all = new Float32Array(n);
  let at = 0;
  for (const m of maps) {
    all.set(m, at);
    at += m.length;
  }
  all.sort();
  const low = all[Math.floor(0.01 * (n - 1))], high = all[Math.floor(0.999 * (n - 1))];
  return high > low ? { low, high } : { low, high: low + 1 };
}

/** A jet-like palette: blue → cyan → yellow → red over [0, 1], clamped outside. */
function heatColour(t: number): [number, number, number] {
  const c = (v: number) => Math.round(255 * Math.min(1, Math.max(0, v)));
  const u = Math.min(1, Math.max(0, t));
  return [c(1.5 - Math.abs(4 * u - 3)), c(1.5 - Math.abs(4 * u - 2)), c(1.5 - Math.abs(4 * u - 1))];
}
