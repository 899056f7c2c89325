/**
 * DRAEM's anomaly (Zavrtanik et al., 2021): a thresholded Perlin-noise mask through which a foreign
 * texture is blended with a random opacity. DRAEM draws its textures from DTD, which is not here; the
 * texture is either this image turned, scaled and recoloured (to the model it is as foreign as
 * another normal image of the same part) or a procedural noise texture, and then goes through
 * three of DRAEM's colour augmenters.
 *
 * @module
 */
import type { Random } from "../../random.ts";
import { perlinNoise } from "./perlin.ts";
import {
  type DefectContext,
  type DefectLayer,
  drawJitter,
  hsvToRgb,
  jitterColor_,
  layerOver,
  luma,
  meanLuma,
  sampleBilinear,
} from "./_layer.ts";

/** DRAEM's Perlin scales 2⁰…2⁵ cells at 256 px; the coarsest make one huge blob, so start at 2¹. */
const CELLS = [2, 4, 8, 16, 32];

/**
 * Paints a Perlin-blended texture patch covering 1–10 % of the object (the threshold is the
 * matching quantile of the noise over a window around an object point, so the area is controlled
 * while the shape stays DRAEM's).
 *
 * @param ctx the image and where the object is
 * @param random the random source
 * @returns the layer: anti-aliased noise mask times opacity, and the augmented texture
 *
 * @example The blend covers part of the image
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { Random } from "../../random.ts";
 * const image = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(120) };
 * const layer = paintPerlinBlend({ image, scale: 64, grey: false, pointOnObject: () => ({ x: 32, y: 32 }), onObject: () => true }, new Random(5));
 * const covered = layer.alpha.filter((a) => a > 0).length;
 * ok(covered > 0 && covered < 64 * 64 * 0.3);
 * ```
 */
export function paintPerlinBlend(ctx: DefectContext, random: Random): DefectLayer {
  const { image, scale } = ctx;
  const { width, height } = image;
  const cellPx = Math.max(width, height) / random.pick(CELLS);

  // The patch lives in a round window around an object point, two or three cells wide, so that it
  // reads as one defect rather than a sprinkle over the part; only the window's noise is computed.
  const centre = ctx.pointOnObject(random);
  const radius = Math.min(Math.max(random.uniform(1.5, 3) * cellPx, 0.06 * scale), 0.3 * scale);
  const layer = layerOver(image, {
    x0: centre.x - radius,
    y0: centre.y - radius,
    x1: centre.x + radius,
    y1: centre.y + radius,
  });
  const noise = perlinNoise(layer, random, {
    cells: Math.max(layer.width, layer.height) / cellPx,
    angle: random.uniform(0, Math.PI),
  });
  const windowArea = Math.PI * radius * radius;
  const area = Math.min(random.uniform(0.005, 0.06) * width * height, 0.35 * windowArea);
  const inside = new Float32Array(noise.length);
  let n = 0;
  for (let y = 0; y < layer.height; y++) {
    for (let x = 0; x < layer.width; x++) {
      const i = y * layer.width + x;
      const r = Math.hypot(layer.left + x - centre.x, layer.top + y - centre.y) / radius;
      // Fading the noise to zero at the rim keeps the outline Perlin-shaped instead of cut by the window.
      noise[i] *= r >= 1 ? 0 : 1 - r * r;
      if (r < 1) inside[n++] = noise[i];
    }
  }
  const ranked = inside.subarray(0, n).sort();
  const threshold = Math.max(ranked[Math.max(0, n - 1 - Math.floor(area))] ?? 0, 0.02);
  // About 1.5 px of anti-aliasing: the noise changes by roughly 1/cellPx per pixel.
  const soft = 1.5 / cellPx;
  const opacity = random.uniform(0.5, 1);

  const texture = drawTexture(ctx, layer, random);
  const pivot = meanLuma(image);
  const augment = drawAugmenters(random);
  for (let i = 0; i < noise.length; i++) {
    const a = Math.min((noise[i] - threshold) / soft, 1);
    if (a <= 0) continue;
    layer.alpha[i] = a * opacity;
    const x = layer.left + (i % layer.width), y = layer.top + Math.floor(i / layer.width);
    texture(x, y, layer.color, i * 3);
    for (const f of augment) f(layer.color, i * 3, pivot);
  }
  return layer;
}

type Texture = (x: number, y: number, out: Float32Array, at: number) => void;
type Augmenter = (rgb: Float32Array, at: number, pivot: number) => void;

function drawTexture(ctx: DefectContext, layer: DefectLayer, random: Random): Texture {
  const { image } = ctx;
  if (random.next() < 0.5) {
    // The image itself, turned about a random point and rescaled: same material, wrong structure.
    const turn = random.uniform(Math.PI / 6, (11 * Math.PI) / 6);
    const zoom = random.uniform(0.6, 1.6);
    const c = Math.cos(turn) / zoom, s = Math.sin(turn) / zoom;
    const pivot = ctx.pointOnObject(random);
    const from = ctx.pointOnObject(random);
    return (x, y, out, at) => {
      const dx = x - pivot.x, dy = y - pivot.y;
      let ox = c * dx - s * dy, oy = s * dx + c * dy;
      // Reading the backdrop would paste a patch of table onto the part: pull such reads toward
      // the source point until they land on the object.
      for (let i = 0; i < 4 && !ctx.onObject(Math.round(from.x + ox), Math.round(from.y + oy)); i++) {
        ox *= 0.5, oy *= 0.5;
      }
      sampleBilinear(image, from.x + ox, from.y + oy, out, at);
    };
  }
  // Fractal noise between two muted colours, one near the image's mean, optionally banded like
  // marble or wood grain; a few cells across the patch so that it shows structure, not a flat fill.
  const field = perlinNoise(layer, random, {
    cells: random.uniform(3, 10),
    octaves: 4,
    angle: random.uniform(0, Math.PI),
  });
  const base = meanLuma(image);
  const a = [base, base, base].map((v) => v + random.uniform(-40, 40));
  const b = hsvToRgb(random.next(), random.uniform(0, 0.35), random.uniform(0.1, 0.9));
  const bands = random.next() < 0.4 ? random.uniform(4, 14) : 0;
  return (x, y, out, at) => {
    const n = field[(y - layer.top) * layer.width + x - layer.left] / 0.7;
    const t = bands > 0 ? 0.5 + 0.5 * Math.sin(n * bands) : Math.min(Math.max(0.5 + n, 0), 1);
    for (let k = 0; k < 3; k++) out[at + k] = a[k] + t * (b[k] - a[k]);
  };
}

/** Three of DRAEM's augmenters, in random order, as DRAEM's `randAugmenter` picks them. */
function drawAugmenters(random: Random): Augmenter[] {
  const all: Array<() => Augmenter> = [
    () => {
      const gamma = random.uniform(0.5, 2);
      return (rgb, at) => {
        for (let k = 0; k < 3; k++) rgb[at + k] = 255 * Math.pow(clamp01(rgb[at + k] / 255), gamma);
      };
    },
    () => {
      const mul = random.uniform(0.8, 1.2), add = random.uniform(-30, 30);
      return (rgb, at) => {
        for (let k = 0; k < 3; k++) rgb[at + k] = rgb[at + k] * mul + add;
      };
    },
    () => {
      const jitter = drawJitter(random, 0.4, 0.06);
      return (rgb, at, pivot) => jitterColor_(rgb, at, jitter, pivot);
    },
    () => {
      const threshold = random.uniform(32, 128);
      return (rgb, at) => {
        // Solarize: an inversion above a level, as in PIL.
        for (let k = 0; k < 3; k++) if (rgb[at + k] >= threshold) rgb[at + k] = 255 - rgb[at + k];
      };
    },
    () => {
      const step = 2 ** (8 - random.int(4, 6));
      return (rgb, at) => {
        for (let k = 0; k < 3; k++) rgb[at + k] = Math.floor(clamp(rgb[at + k]) / step) * step;
      };
    },
    () => (rgb, at) => {
      for (let k = 0; k < 3; k++) rgb[at + k] = 255 - rgb[at + k];
    },
    () => {
      // A stand-in for autocontrast: stretch around mid-grey, a fixed gain.
      const gain = random.uniform(1.2, 1.8);
      return (rgb, at) => {
        const l = luma(rgb[at], rgb[at + 1], rgb[at + 2]);
        for (let k = 0; k < 3; k++) rgb[at + k] = 128 + (rgb[at + k] - l) + (l - 128) * gain;
      };
    },
  ];
  return random.sample(all.length, 3).map((i) => all[i]());
}

function clamp(v: number): number {
  return Math.min(Math.max(v, 0), 255);
}

function clamp01(v: number): number {
  return Math.min(Math.max(v, 0), 1);
}
