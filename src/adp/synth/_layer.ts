/**
 * What the defect painters share: the layer they paint, the context they paint in, and a few colour
 * and sampling helpers. Painters only describe a defect (where, how opaque, what colour); the
 * procedural synthesizer composites it, so the mask and the changed pixels cannot disagree.
 *
 * @module
 */
import type { Random } from "../../random.ts";
import type { Rgb8Image } from "../../image/mod.ts";

/**
 * A defect as an opacity and a target colour over a rectangle of the image. Opacity is exactly 0
 * outside the defect: painters give it compact support, so the mask needs no threshold of its own.
 */
export interface DefectLayer {
  left: number;
  top: number;
  width: number;
  height: number;
  /** `width * height` opacities in [0, 1]. */
  alpha: Float32Array;
  /** `width * height * 3` target colours, 0–255 floats; read only where alpha > 0. */
  color: Float32Array;
}

/** The image a defect is painted on, and where on it a defect may go. */
export interface DefectContext {
  image: Rgb8Image;
  /** The shorter side in pixels: painters size defects relative to it so any resolution looks alike. */
  scale: number;
  /** Whether the image is greyscale (R = G = B): colour is then no cue a painter can use. */
  grey: boolean;
  /**
   * A random point on the object (the whole image when no object was told from its background).
   * Painters anchor defects here so they land on the part, not on the table.
   */
  pointOnObject(random: Random): { x: number; y: number };
  /** Whether (x, y) is on the object (always true when no object was told from its background). */
  onObject(x: number, y: number): boolean;
}

/** One defect kind: draws a layer for an image. Pure but for the random source. */
export type DefectPainter = (ctx: DefectContext, random: Random) => DefectLayer;

/** An empty layer over a rectangle clipped to the image. */
export function layerOver(
  image: Rgb8Image,
  box: { x0: number; y0: number; x1: number; y1: number },
): DefectLayer {
  const left = Math.max(0, Math.floor(box.x0));
  const top = Math.max(0, Math.floor(box.y0));
  const right = Math.min(image.width, Math.ceil(box.x1) + 1);
  const bottom = Math.min(image.height, Math.ceil(box.y1) + 1);
  const width = Math.max(0, right - left), height = Math.max(0, bottom - top);
  return {
    left,
    top,
    width,
    height,
    alpha: new Float32Array(width * height),
    color: new Float32Array(width * height * 3),
  };
}

/** Bilinear sample of `image` at (x, y), edges clamped, written to `out[at…at+2]`. */
export function sampleBilinear(image: Rgb8Image, x: number, y: number, out: Float32Array, at: number): void {
  const { width, height, data } = image;
  const cx = Math.min(Math.max(x, 0), width - 1), cy = Math.min(Math.max(y, 0), height - 1);
  const x0 = Math.floor(cx), y0 = Math.floor(cy);
  const x1 = Math.min(x0 + 1, width - 1), y1 = Math.min(y0 + 1, height - 1);
  const fx = cx - x0, fy = cy - y0;
  const a = (y0 * width + x0) * 3, b = (y0 * width + x1) * 3;
  const c = (y1 * width + x0) * 3, d = (y1 * width + x1) * 3;
  for (let k = 0; k < 3; k++) {
    const top = data[a + k] + fx * (data[b + k] - data[a + k]);
    const bottom = data[c + k] + fx * (data[d + k] - data[c + k]);
    out[at + k] = top + fy * (bottom - top);
  }
}

/** Rec. 601 luma, what a greyscale camera would have recorded. */
export function luma(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

/** RGB (0–255) of a hue in [0, 1), saturation and value in [0, 1]. */
export function hsvToRgb(h: number, s: number, v: number): [number, number, number] {
  const i = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s);
  const rgb = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i];
  return [rgb[0] * 255, rgb[1] * 255, rgb[2] * 255];
}

/** A colour jitter in torchvision's spirit: brightness, contrast, saturation factors and a hue turn. */
export interface ColorJitter {
  brightness: number;
  contrast: number;
  saturation: number;
  /** Hue rotation in turns (1 = 360°). */
  hue: number;
}

/** Draws a jitter with each factor in [1 − s, 1 + s] and the hue within ±`hue` turns. */
export function drawJitter(random: Random, strength: number, hue: number): ColorJitter {
  return {
    brightness: random.uniform(1 - strength, 1 + strength),
    contrast: random.uniform(1 - strength, 1 + strength),
    saturation: random.uniform(1 - strength, 1 + strength),
    hue: random.uniform(-hue, hue),
  };
}

/**
 * Applies a jitter in place to the colour at `rgb[at…at+2]`. `pivot` is the grey level contrast
 * turns about (the image's mean luma, so contrast does not shift the overall brightness).
 */
export function jitterColor_(rgb: Float32Array, at: number, j: ColorJitter, pivot: number): void {
  let r = rgb[at] * j.brightness, g = rgb[at + 1] * j.brightness, b = rgb[at + 2] * j.brightness;
  r = pivot + (r - pivot) * j.contrast;
  g = pivot + (g - pivot) * j.contrast;
  b = pivot + (b - pivot) * j.contrast;
  const l = luma(r, g, b);
  r = l + (r - l) * j.saturation;
  g = l + (g - l) * j.saturation;
  b = l + (b - l) * j.saturation;
  if (j.hue !== 0) {
    // Rotation about the grey axis: a hue turn that needs no HSV round trip per pixel.
    const a = j.hue * 2 * Math.PI;
    const c = Math.cos(a), s = Math.sin(a);
    const k = (1 - c) / 3, q = Math.sqrt(1 / 3) * s;
    const nr = r * (c + k) + g * (k - q) + b * (k + q);
    const ng = r * (k + q) + g * (c + k) + b * (k - q);
    const nb = r * (k - q) + g * (k + q) + b * (c + k);
    r = nr, g = ng, b = nb;
  }
  rgb[at] = r;
  rgb[at + 1] = g;
  rgb[at + 2] = b;
}

/** Mean luma of an image, sampled on a sparse grid (a pivot, not a statistic). */
export function meanLuma(image: Rgb8Image): number {
  const { width, height, data } = image;
  const step = Math.max(1, Math.floor(Math.sqrt((width * height) / 4096)));
  let sum = 0, n = 0;
  for (let y = 0; y < height; y += step) {
    for (let x = 0; x < width; x += step) {
      const i = (y * width + x) * 3;
      sum += luma(data[i], data[i + 1], data[i + 2]);
      n++;
    }
  }
  return sum / n;
}

/** Hermite smoothstep from 0 at `edge0` to 1 at `edge1`. */
export function smoothstep(edge0: number, edge1: number, x: number): number {
  const t = Math.min(Math.max((x - edge0) / (edge1 - edge0), 0), 1);
  return t * t * (3 - 2 * t);
}

/** Mean luma below which a surface counts as dark: painters then lighten rather than darken. */
export const DARK_SURFACE = 90;

/** Mean luma of the square of half-side `radius` around `centre`, on a sparse grid. */
export function localLuma(image: Rgb8Image, centre: { x: number; y: number }, radius: number): number {
  const { width, height, data } = image;
  const step = Math.max(1, Math.floor(radius / 8));
  let sum = 0, n = 0;
  for (
    let y = Math.max(0, Math.floor(centre.y - radius));
    y < Math.min(height, centre.y + radius);
    y += step
  ) {
    for (
      let x = Math.max(0, Math.floor(centre.x - radius));
      x < Math.min(width, centre.x + radius);
      x += step
    ) {
      const p = (y * width + x) * 3;
      sum += luma(data[p], data[p + 1], data[p + 2]);
      n++;
    }
  }
  return n ? sum / n : 128;
}
