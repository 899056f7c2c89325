/**
 * Stains: soft-edged irregular blobs that darken the surface and shift its colour, mottled inside,
 * like oil, rust or dried residue.
 *
 * @module
 */
import type { Random } from "../../random.ts";
import { perlinNoise } from "./perlin.ts";
import {
  DARK_SURFACE,
  type DefectContext,
  type DefectLayer,
  layerOver,
  localLuma,
  smoothstep,
} from "./_layer.ts";

/**
 * Stain tints. On a light surface a stain darkens (oil, rust, soot); on a dark one darkening barely
 * shows, and what shows there is a lighter deposit (dried residue, limescale, pale rust).
 */
const DARK_TINTS: readonly [number, number, number][] = [[130, 70, 30], [45, 40, 25], [30, 30, 32], [
  90,
  75,
  40,
]];
const LIGHT_TINTS: readonly [number, number, number][] = [[185, 170, 135], [200, 200, 195], [170, 110, 70]];
/**
 * Paints a stain with a mean radius of 3–11 % of the shorter side; its outline is a circle bent by
 * a few random harmonics and stretched, its edge fades over 25–60 % of the radius.
 *
 * @param ctx the image and where the object is
 * @param random the random source
 * @returns the stain's layer
 *
 * @example A stain is a compact blob
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { Random } from "../../random.ts";
 * const image = { width: 128, height: 128, data: new Uint8Array(128 * 128 * 3).fill(200) };
 * const layer = paintStain({ image, scale: 128, grey: false, pointOnObject: () => ({ x: 64, y: 64 }), onObject: () => true }, new Random(1));
 * const covered = layer.alpha.filter((a) => a > 0).length;
 * ok(covered > 20 && covered < 128 * 128 * 0.2);
 * ```
 */
export function paintStain(ctx: DefectContext, random: Random): DefectLayer {
  const { image, scale } = ctx;
  const radius = random.uniform(0.03, 0.11) * scale;
  const centre = ctx.pointOnObject(random);
  const stretch = random.uniform(0.6, 1);
  const tilt = random.uniform(0, Math.PI);
  const harmonics = [2, 3, 4, 5].map((k) => ({
    k,
    amp: random.uniform(0, 0.22) / (k - 1),
    phase: random.uniform(0, 2 * Math.PI),
  }));
  const softness = random.uniform(0.25, 0.6);
  const opacity = random.uniform(0.6, 0.95);
  // Mostly, not always: a darker patch on a dark part is a defect too, just a subtler one.
  const darkSurface = localLuma(image, centre, radius) < DARK_SURFACE && random.next() < 0.65;
  const darken = darkSurface ? random.uniform(0.85, 1) : random.uniform(0.45, 0.8);
  const tint = random.pick(darkSurface ? LIGHT_TINTS : DARK_TINTS);
  const tintAmount = darkSurface ? random.uniform(0.3, 0.6) : random.uniform(0.15, 0.5);

  // The outline's largest excursion: 1 + Σ amp ≤ 1.5.
  const reach = radius * 1.5 + 1;
  const layer = layerOver(image, {
    x0: centre.x - reach,
    y0: centre.y - reach,
    x1: centre.x + reach,
    y1: centre.y + reach,
  });
  const mottle = perlinNoise(layer, random, {
    cells: Math.max(2, (4 * layer.width) / (2 * reach)),
    octaves: 2,
  });
  const cos = Math.cos(tilt), sin = Math.sin(tilt);
  const { data, width } = image;
  for (let y = 0; y < layer.height; y++) {
    const dy = layer.top + y - centre.y;
    for (let x = 0; x < layer.width; x++) {
      const dx = layer.left + x - centre.x;
      const u = cos * dx + sin * dy, v = (-sin * dx + cos * dy) / stretch;
      const phi = Math.atan2(v, u);
      let edge = 1;
      for (const h of harmonics) edge += h.amp * Math.cos(h.k * phi + h.phase);
      const rho = Math.hypot(u, v) / (radius * edge);
      if (rho >= 1) continue;
      const i = y * layer.width + x;
      const body = smoothstep(1, 1 - softness, rho);
      layer.alpha[i] = opacity * body * (0.75 + 0.35 * mottle[i] / 0.7);
      const p = ((layer.top + y) * width + layer.left + x) * 3;
      for (let k = 0; k < 3; k++) {
        const dark = data[p + k] * darken;
        layer.color[i * 3 + k] = dark + tintAmount * (tint[k] - dark);
      }
    }
  }
  return layer;
}
