/**
 * Colour spots: a small cluster of saturated dots, like paint splatter or a foreign particle. Their
 * colour is what sets them apart, so on a greyscale image they become dark or bright dots instead.
 *
 * @module
 */
import type { Random } from "../../random.ts";
import { type DefectContext, type DefectLayer, hsvToRgb, layerOver, smoothstep } from "./_layer.ts";

/**
 * Paints two to six dots of radius 1.4–3.2 % of the shorter side, scattered within about 6 % of a
 * point on the object, in one saturated colour.
 *
 * @param ctx the image and where the object is
 * @param random the random source
 * @returns the spots' layer
 *
 * @example Spots cover a small area
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { Random } from "../../random.ts";
 * const image = { width: 200, height: 200, data: new Uint8Array(200 * 200 * 3).fill(90) };
 * const layer = paintSpot({ image, scale: 200, grey: false, pointOnObject: () => ({ x: 100, y: 100 }), onObject: () => true }, new Random(9));
 * const covered = layer.alpha.filter((a) => a > 0).length;
 * ok(covered > 20 && covered < 200 * 200 * 0.1);
 * ```
 */
export function paintSpot(ctx: DefectContext, random: Random): DefectLayer {
  const { image, scale } = ctx;
  const centre = ctx.pointOnObject(random);
  const spread = 0.06 * scale;
  const count = random.int(2, 6);
  const dots = Array.from({ length: count }, (_, i) => {
    const a = random.uniform(0, 2 * Math.PI), d = i === 0 ? 0 : spread * Math.sqrt(random.next());
    return {
      x: centre.x + d * Math.cos(a),
      y: centre.y + d * Math.sin(a),
      r: random.uniform(0.014, 0.032) * scale * (i === 0 ? 1 : random.uniform(0.5, 1)),
    };
  });
  // Greyscale: mostly dark pits (what blowholes and particles look like there), sometimes pale flecks.
  const colour = ctx.grey
    ? new Array<number>(3).fill(random.next() < 0.7 ? random.uniform(0, 35) : random.uniform(150, 215))
    : hsvToRgb(random.next(), random.uniform(0.7, 1), random.uniform(0.55, 1));
  const opacity = random.uniform(0.75, 1);
  const halo = random.uniform(0.1, 0.35);

  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const d of dots) {
    x0 = Math.min(x0, d.x - d.r - 1), x1 = Math.max(x1, d.x + d.r + 1);
    y0 = Math.min(y0, d.y - d.r - 1), y1 = Math.max(y1, d.y + d.r + 1);
  }
  const layer = layerOver(image, { x0, y0, x1, y1 });
  for (let y = 0; y < layer.height; y++) {
    for (let x = 0; x < layer.width; x++) {
      let a = 0;
      for (const d of dots) {
        const dist = Math.hypot(layer.left + x - d.x, layer.top + y - d.y);
        // A crisp anti-aliased rim with a little soft halo inside it, like a dried droplet.
        const rim = Math.min(Math.max(d.r + 0.5 - dist, 0), 1);
        a = Math.max(a, rim * (1 - halo + halo * smoothstep(d.r, d.r * 0.6, dist)));
      }
      if (a <= 0) continue;
      const i = y * layer.width + x;
      layer.alpha[i] = a * opacity;
      layer.color.set(colour, i * 3);
    }
  }
  return layer;
}
