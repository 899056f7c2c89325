/**
 * CutPaste's "scar" (Li et al., 2021): a thin rectangle cut from elsewhere on the same part,
 * colour-jittered, rotated and pasted. It breaks the local continuity of texture and edges, the
 * cue most real surface defects share, without importing anything foreign to the image.
 *
 * @module
 */
import type { Random } from "../../random.ts";
import {
  type DefectContext,
  type DefectLayer,
  drawJitter,
  jitterColor_,
  layerOver,
  meanLuma,
  sampleBilinear,
} from "./_layer.ts";

/**
 * Paints a scar. Sizes are fractions of the image's shorter side: length 7–18 %, width 2–5 %
 * (CutPaste's 10–25 px by 2–16 px at 256 px, narrowed so a 224 px crop still shows it as a line).
 *
 * @param ctx the image and where the object is
 * @param random the random source
 * @returns the scar's layer
 *
 * @example A scar covers a thin strip of the image
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { Random } from "../../random.ts";
 * const data = new Uint8Array(64 * 64 * 3).map((_, i) => (i * 7) % 251);
 * const image = { width: 64, height: 64, data };
 * const layer = paintScar({ image, scale: 64, grey: false, pointOnObject: (r) => ({ x: r.int(0, 63), y: r.int(0, 63) }), onObject: () => true }, new Random(2));
 * const covered = layer.alpha.filter((a) => a > 0).length;
 * ok(covered > 0 && covered < 64 * 64 * 0.1);
 * ```
 */
export function paintScar(ctx: DefectContext, random: Random): DefectLayer {
  const { image, scale } = ctx;
  const halfLen = (random.uniform(0.07, 0.18) * scale) / 2;
  const halfWid = (random.uniform(0.02, 0.05) * scale) / 2;
  const angle = random.uniform(0, Math.PI);
  const target = ctx.pointOnObject(random);
  // A source at least a scar's length away, so the pasted strip is out of register with what it covers.
  let source = ctx.pointOnObject(random);
  for (let i = 0; i < 8 && Math.hypot(source.x - target.x, source.y - target.y) < 2 * halfLen; i++) {
    source = ctx.pointOnObject(random);
  }
  const jitter = drawJitter(random, 0.4, 0.08);
  const pivot = meanLuma(image);

  const cos = Math.cos(angle), sin = Math.sin(angle);
  const reach = Math.hypot(halfLen, halfWid) + 1;
  const layer = layerOver(image, {
    x0: target.x - reach,
    y0: target.y - reach,
    x1: target.x + reach,
    y1: target.y + reach,
  });
  for (let y = 0; y < layer.height; y++) {
    const dy = layer.top + y - target.y;
    for (let x = 0; x < layer.width; x++) {
      const dx = layer.left + x - target.x;
      const u = cos * dx + sin * dy;
      const v = -sin * dx + cos * dy;
      // Pixel coverage of the rotated rectangle, approximated per axis: anti-aliased edges.
      const a = Math.min(Math.max(halfLen + 0.5 - Math.abs(u), 0), 1) *
        Math.min(Math.max(halfWid + 0.5 - Math.abs(v), 0), 1);
      if (a <= 0) continue;
      const i = y * layer.width + x;
      layer.alpha[i] = a;
      sampleBilinear(image, source.x + u, source.y + v, layer.color, i * 3);
      jitterColor_(layer.color, i * 3, jitter, pivot);
    }
  }
  return layer;
}
