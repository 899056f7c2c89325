/**
 * Regions of interest: which parts of a station's frame are inspected. An operator draws include
 * polygons (only what lies inside one is inspected; none: the whole frame) and ignore polygons
 * (never inspected: a fixture, a label, a moving conveyor edge), in frame pixels, or paints a mask
 * image the frame's size (bright: inspected, dark: not), stored run-length encoded.
 *
 * The rule everywhere: a patch of the grid, or a pixel of the anomaly map, is inside a polygon when
 * its centre is, by the even–odd rule; a centre exactly on an edge counts as inside on the left and
 * top edges and outside on the right and bottom ones (the half-open convention of scan-line
 * fill), so two polygons sharing an edge never both claim a centre on it. Rasterising is pure and
 * cheap (grid 14×14 to 28×28 cells, a map of at most 256² pixels), and a scorer caches the masks per
 * frame size.
 *
 * @module
 */
import type { Guard } from "../guard.ts";
import type { Rgb8Image } from "../image/mod.ts";
import { imageScore, type ImageScoreRule, type PatchScores } from "./patch/mod.ts";

/** A polygon's vertices `[x, y]` in frame pixels, in drawing order; the last joins the first. */
export type Polygon = [number, number][];

/**
 * A mask image over the frame's pixels [0, width) × [0, height), run-length encoded row-major:
 * `runs` alternates lengths of not-inspected and inspected pixels, starting with not inspected (a
 * first run of 0 when the first pixel is inspected). Beyond the mask nothing is inspected.
 */
export interface RoiMask {
  /** The mask's width in frame pixels. */
  width: number;
  /** Its height. */
  height: number;
  /** Run lengths, summing to width × height. */
  runs: number[];
}

/** The inspected area of a station's frames: inside an include polygon (if any), on the mask (if any), outside every ignore polygon. */
export interface RegionOfInterest {
  /** Only what lies inside one of these is inspected; absent or empty: the whole frame. */
  include?: Polygon[];
  /** Never inspected, even inside an include polygon. */
  ignore?: Polygon[];
  /** Only the mask's inspected pixels are. */
  mask?: RoiMask;
}

/** How a patch grid lies over the frame: the backbone's input and how the frame became it. */
export interface GridPlacement {
  /** Grid columns. */
  gridW: number;
  /** Grid rows. */
  gridH: number;
  /** The frame squashed whole into the input, or its shorter side scaled and the centre cropped. */
  resize: "whole" | "crop";
  /** The input's width (only its aspect ratio matters to "whole"). */
  inputWidth: number;
  /** The input's height. */
  inputHeight: number;
}

/** Polygons per list, and vertices per polygon, a profile may hold. */
export const ROI_LIMITS = { polygons: 64, vertices: 1024, maskSide: 8192, maskRuns: 262_144 } as const;

/**
 * Whether (x, y) lies inside `polygon` (even–odd rule, half-open edges: see the module).
 *
 * @example The unit square holds its lower-left corner, not its upper-right one
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const square: [number, number][] = [[0, 0], [1, 0], [1, 1], [0, 1]];
 * strictEqual(insidePolygon(0, 0, square), true);
 * strictEqual(insidePolygon(1, 1, square), false);
 * strictEqual(insidePolygon(0.5, 0.5, square), true);
 * ```
 */
export function insidePolygon(x: number, y: number, polygon: Polygon): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i], [xj, yj] = polygon[j];
    // The edge spans y in [min, max): a horizontal edge never counts, a shared vertex counts once.
    if ((yi > y) !== (yj > y)) {
      const crossX = xi + ((y - yi) * (xj - xi)) / (yj - yi);
      if (x < crossX) inside = !inside;
    }
  }
  return inside;
}

/** Whether the frame point (x, y) is inspected under `roi`: the mask's pixel is the one (x, y) lies in. */
export function insideRoi(roi: RegionOfInterest, x: number, y: number): boolean {
  const include = roi.include ?? [];
  if (include.length && !include.some((p) => insidePolygon(x, y, p))) return false;
  if (roi.mask && !onMask(roi.mask, x, y)) return false;
  return !(roi.ignore ?? []).some((p) => insidePolygon(x, y, p));
}

/** Whether `roi` restricts anything at all. */
export function roiIsEmpty(roi: RegionOfInterest | undefined): boolean {
  return !roi || (!roi.include?.length && !roi.ignore?.length && !roi.mask);
}

/** Each mask's pixels, decoded once (a region is immutable once in a profile). */
const decodedMasks = new WeakMap<RoiMask, Uint8Array>();

function onMask(mask: RoiMask, x: number, y: number): boolean {
  const col = Math.floor(x), row = Math.floor(y);
  if (col < 0 || row < 0 || col >= mask.width || row >= mask.height) return false;
  let pixels = decodedMasks.get(mask);
  if (!pixels) {
    pixels = new Uint8Array(mask.width * mask.height);
    let at = 0;
    mask.runs.forEach((run, i) => {
      if (i % 2 === 1) pixels!.fill(1, at, at + run);
      at += run;
    });
    decodedMasks.set(mask, pixels);
  }
  return pixels[row * mask.width + col] === 1;
}

/**
 * A mask from an image the frame's size: a pixel is inspected when its luma (BT.601) is at least
 * 128 — white inspected, black ignored, as an operator paints it.
 *
 * @example A 3×1 mask: black, white, white
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const image = { width: 3, height: 1, data: Uint8Array.of(0, 0, 0, 255, 255, 255, 200, 200, 200) };
 * deepStrictEqual(maskFromImage(image), { width: 3, height: 1, runs: [1, 2] });
 * ```
 */
export function maskFromImage(image: Rgb8Image): RoiMask {
  const runs: number[] = [];
  let current = 0, length = 0;
  for (let i = 0; i < image.width * image.height; i++) {
    const [r, g, b] = image.data.subarray(i * 3, i * 3 + 3);
    // In thousandths, so that a grey of exactly 128 is not lost to rounding.
    const inspected = 299 * r + 587 * g + 114 * b >= 128_000 ? 1 : 0;
    if (inspected !== current) {
      runs.push(length);
      current = inspected;
      length = 0;
    }
    length++;
  }
  runs.push(length);
  return { width: image.width, height: image.height, runs };
}

/**
 * The inspected pixels of a `width`×`height` map laid over a frame (1 inside, 0 outside): pixel
 * (x, y) is inside when the frame point under its centre is.
 *
 * @param roi the region
 * @param map the map's size
 * @param frame the frame's size (the polygons' coordinates)
 */
export function roiPixelMask(
  roi: RegionOfInterest,
  map: { width: number; height: number },
  frame: { width: number; height: number },
): Uint8Array {
  const sx = frame.width / map.width, sy = frame.height / map.height;
  const mask = new Uint8Array(map.width * map.height);
  for (let y = 0; y < map.height; y++) {
    for (let x = 0; x < map.width; x++) {
      mask[y * map.width + x] = insideRoi(roi, (x + 0.5) * sx, (y + 0.5) * sy) ? 1 : 0;
    }
  }
  return mask;
}

/**
 * The inspected cells of a patch grid (1 inside, 0 outside): a cell is inside when the frame point
 * under its centre is. With a centre crop the grid covers the frame's middle only, so its cells'
 * centres are placed through the crop.
 */
export function roiCellMask(
  roi: RegionOfInterest,
  grid: GridPlacement,
  frame: { width: number; height: number },
): Uint8Array {
  const { gridW, gridH, inputWidth: inW, inputHeight: inH } = grid;
  // The frame resized before the crop (frame_resize.ts), and the crop's offset within it.
  let scaledW = inW, scaledH = inH;
  if (grid.resize === "crop") {
    const s = Math.max(inW / frame.width, inH / frame.height);
    scaledW = Math.max(inW, Math.round(frame.width * s));
    scaledH = Math.max(inH, Math.round(frame.height * s));
  }
  const left = Math.floor((scaledW - inW) / 2), top = Math.floor((scaledH - inH) / 2);
  const mask = new Uint8Array(gridW * gridH);
  for (let r = 0; r < gridH; r++) {
    const y = (((r + 0.5) * inH) / gridH + top) * (frame.height / scaledH);
    for (let c = 0; c < gridW; c++) {
      const x = (((c + 0.5) * inW) / gridW + left) * (frame.width / scaledW);
      mask[r * gridW + c] = insideRoi(roi, x, y) ? 1 : 0;
    }
  }
  return mask;
}

/**
 * A frame's patch scores with the excluded cells' distances set to 0 and the image score taken
 * over the inspected cells alone, less their edge offsets (0 when the region holds no cell centre:
 * nothing is inspected).
 * Never higher than the unmasked score: the largest (or top-mean) of a subset is at most the whole's.
 */
export function maskPatchScores(scores: PatchScores, cells: Uint8Array, rule: ImageScoreRule): PatchScores {
  const { distances } = scores;
  if (cells.length !== distances.length) {
    throw new RangeError(`An ROI mask of ${cells.length} cells does not fit a grid of ${distances.length}`);
  }
  const masked = new Float32Array(distances.length);
  const kept: number[] = [];
  for (let i = 0; i < distances.length; i++) {
    if (!cells[i]) continue;
    masked[i] = distances[i];
    kept.push(distances[i] - (scores.edgeOffsets?.[i] ?? 0));
  }
  const score = kept.length ? imageScore(Float32Array.from(kept), rule) : 0;
  return { ...scores, distances: masked, imageScores: Float32Array.of(score) };
}

/**
 * Checks an untrusted region (a profile's metadata, a request) through `guard`.
 *
 * @param field the region's field name ("roi"); "" names its lists alone ("ignore[0]")
 * @returns the region, with only the lists it holds
 * @throws the guard's error naming the first bad field
 */
export function checkRoi(guard: Guard, v: unknown, field: string): RegionOfInterest {
  const fields = guard.object(v, field || "region");
  guard.only(fields, ["include", "ignore", "mask"], field || "region");
  const roi: RegionOfInterest = {};
  for (const key of ["include", "ignore"] as const) {
    if (fields[key] === undefined) continue;
    const list = fields[key], name = field ? `${field}.${key}` : key;
    if (!Array.isArray(list) || list.length > ROI_LIMITS.polygons) {
      guard.reject(name, `a list of at most ${ROI_LIMITS.polygons} polygons`, list);
    }
    roi[key] = list.map((p, i) => checkPolygon(guard, p, `${name}[${i}]`));
  }
  if (fields.mask !== undefined) roi.mask = checkMask(guard, fields.mask, field ? `${field}.mask` : "mask");
  return roi;
}

function checkMask(guard: Guard, v: unknown, field: string): RoiMask {
  const m = guard.object(v, field);
  guard.only(m, ["width", "height", "runs"], field);
  const width = guard.integer(m.width, `${field}.width`, { min: 1, max: ROI_LIMITS.maskSide });
  const height = guard.integer(m.height, `${field}.height`, { min: 1, max: ROI_LIMITS.maskSide });
  const runs = m.runs;
  if (!Array.isArray(runs) || runs.length > ROI_LIMITS.maskRuns) {
    guard.reject(`${field}.runs`, `a list of at most ${ROI_LIMITS.maskRuns} run lengths`, runs);
  }
  let total = 0;
  for (const [i, run] of runs.entries()) total += guard.integer(run, `${field}.runs[${i}]`, { min: 0 });
  if (total !== width * height) {
    throw guard.error(`field ${field}.runs must cover the ${width}×${height} mask: got ${total} pixels`);
  }
  return { width, height, runs: runs as number[] };
}

function checkPolygon(guard: Guard, v: unknown, field: string): Polygon {
  if (!Array.isArray(v) || v.length < 3 || v.length > ROI_LIMITS.vertices) {
    guard.reject(field, `a polygon of 3 to ${ROI_LIMITS.vertices} [x, y] points`, v);
  }
  return v.map((point, i) => {
    const [x, y] = guard.numbers(point, `${field}[${i}]`, 2);
    return [x, y] as [number, number];
  });
}

/** A region's masks per frame (and map) size, made once each: a station's camera keeps one size. */
export interface RoiMasks {
  /** The inspected cells of a `gridW`×`gridH` grid over a frame of this size. */
  cells(frame: { width: number; height: number }, grid: { gridW: number; gridH: number }): Uint8Array;
  /** The inspected pixels of a map of `map`'s size over a frame of this size. */
  pixels(map: { width: number; height: number }, frame: { width: number; height: number }): Uint8Array;
}

/** Masks of `roi` for a backbone input placed as `placement` says, cached by size. */
export function roiMasks(roi: RegionOfInterest, placement: Omit<GridPlacement, "gridW" | "gridH">): RoiMasks {
  const cache = new Map<string, Uint8Array>();
  const cached = (key: string, make: () => Uint8Array) => {
    let mask = cache.get(key);
    if (!mask) {
      if (cache.size >= 16) cache.delete(cache.keys().next().value!);
      cache.set(key, mask = make());
    }
    return mask;
  };
  return {
    cells: (frame, grid) =>
      cached(
        `c${frame.width}x${frame.height}:${grid.gridW}x${grid.gridH}`,
        () => roiCellMask(roi, { ...placement, ...grid }, frame),
      ),
    pixels: (map, frame) =>
      cached(
        `p${frame.width}x${frame.height}:${map.width}x${map.height}`,
        () => roiPixelMask(roi, map, frame),
      ),
  };
}
