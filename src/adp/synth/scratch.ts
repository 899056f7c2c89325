/**
 * Scratches: one to three thin curved strokes, tapered at both ends, dark (a groove in shadow) or
 * bright (a groove catching the light), broken up along their length as real scratches are.
 *
 * @module
 */
import type { Random } from "../../random.ts";
import { DARK_SURFACE, type DefectContext, type DefectLayer, layerOver, localLuma } from "./_layer.ts";

/** Points per stroke: enough that the polyline is indistinguishable from the curve at 2 px. */
const SEGMENTS = 40;

/**
 * Paints a scratch. Length is 18–45 % of the shorter side, width 0.7–1.6 %, so that a 224 px crop
 * of the image still shows a line about a pixel or more wide.
 *
 * @param ctx the image and where the object is
 * @param random the random source
 * @returns the scratch's layer: anti-aliased strokes and their colour
 *
 * @example A scratch is thin
 * ```ts
 * import { ok } from "node:assert/strict";
 * import { Random } from "../../random.ts";
 * const image = { width: 128, height: 128, data: new Uint8Array(128 * 128 * 3).fill(100) };
 * const layer = paintScratch({ image, scale: 128, grey: false, pointOnObject: () => ({ x: 64, y: 64 }), onObject: () => true }, new Random(4));
 * const covered = layer.alpha.filter((a) => a > 0).length;
 * ok(covered > 20 && covered < 128 * 128 * 0.05);
 * ```
 */
export function paintScratch(ctx: DefectContext, random: Random): DefectLayer {
  const { image, scale } = ctx;
  const length = random.uniform(0.18, 0.45) * scale;
  const halfWidth = Math.max((random.uniform(0.007, 0.016) * scale) / 2, 0.6);
  const strokes = random.next() < 0.6 ? 1 : random.int(2, 3);
  const start = ctx.pointOnObject(random);
  const heading = random.uniform(0, 2 * Math.PI);

  const paths: Float32Array[] = [];
  for (let s = 0; s < strokes; s++) {
    // Companions run roughly alongside the first, as when one grit particle drags several.
    const offset = s === 0 ? 0 : random.uniform(-6, 6) * halfWidth * 2;
    const turn = s === 0 ? 0 : random.uniform(-0.15, 0.15);
    const scaleLen = s === 0 ? 1 : random.uniform(0.5, 1);
    paths.push(bezierPath(random, {
      x: start.x - Math.sin(heading) * offset,
      y: start.y + Math.cos(heading) * offset,
      heading: heading + turn,
      length: length * scaleLen,
    }));
  }

  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const p of paths) {
    for (let i = 0; i < p.length; i += 2) {
      x0 = Math.min(x0, p[i]), x1 = Math.max(x1, p[i]);
      y0 = Math.min(y0, p[i + 1]), y1 = Math.max(y1, p[i + 1]);
    }
  }
  const pad = halfWidth + 1;
  const layer = layerOver(image, { x0: x0 - pad, y0: y0 - pad, x1: x1 + pad, y1: y1 + pad });

  // A dark groove hardly shows on a dark surface; there scratches are mostly seen by the light they catch.
  const bright = random.next() < (localLuma(image, start, length / 2) < DARK_SURFACE ? 0.8 : 0.5);
  const strength = random.uniform(0.6, 0.95);
  const breaks = Array.from({ length: 6 }, () => random.uniform(0, 2 * Math.PI));
  for (const path of paths) strokeInto(layer, path, halfWidth, strength, breaks);

  const { data, width } = image;
  const level = bright ? random.uniform(0.55, 0.85) : random.uniform(0.3, 0.6);
  for (let y = 0; y < layer.height; y++) {
    for (let x = 0; x < layer.width; x++) {
      const i = y * layer.width + x;
      if (layer.alpha[i] <= 0) continue;
      const p = ((layer.top + y) * width + layer.left + x) * 3;
      for (let k = 0; k < 3; k++) {
        // Bright: toward white; dark: the surface itself, darkened, so the groove keeps its hue.
        layer.color[i * 3 + k] = bright ? data[p + k] + level * (255 - data[p + k]) : data[p + k] * level;
      }
    }
  }
  return layer;
}

/** A cubic Bézier from a start point along a heading, its control points bent sideways. */
function bezierPath(
  random: Random,
  from: { x: number; y: number; heading: number; length: number },
): Float32Array {
  const { x, y, heading, length } = from;
  const dx = Math.cos(heading), dy = Math.sin(heading);
  const bend1 = random.uniform(-0.12, 0.12) * length, bend2 = random.uniform(-0.12, 0.12) * length;
  const p1 = [x + dx * length / 3 - dy * bend1, y + dy * length / 3 + dx * bend1];
  const p2 = [x + (dx * 2 * length) / 3 - dy * bend2, y + (dy * 2 * length) / 3 + dx * bend2];
  const p3 = [x + dx * length, y + dy * length];
  const out = new Float32Array((SEGMENTS + 1) * 2);
  for (let i = 0; i <= SEGMENTS; i++) {
    const t = i / SEGMENTS, u = 1 - t;
    const a = u * u * u, b = 3 * u * u * t, c = 3 * u * t * t, d = t * t * t;
    out[2 * i] = a * x + b * p1[0] + c * p2[0] + d * p3[0];
    out[2 * i + 1] = a * y + b * p1[1] + c * p2[1] + d * p3[1];
  }
  return out;
}

/**
 * Adds one stroke's coverage to the layer (the maximum where strokes overlap): distance to the
 * polyline against a half-width tapered toward both ends, intensity modulated along the length.
 */
function strokeInto(
  layer: DefectLayer,
  path: Float32Array,
  halfWidth: number,
  strength: number,
  breaks: number[],
): void {
  const n = path.length / 2 - 1;
  for (let y = 0; y < layer.height; y++) {
    const py = layer.top + y;
    for (let x = 0; x < layer.width; x++) {
      const px = layer.left + x;
      let best = Infinity, along = 0;
      for (let s = 0; s < n; s++) {
        const ax = path[2 * s], ay = path[2 * s + 1];
        const bx = path[2 * s + 2] - ax, by = path[2 * s + 3] - ay;
        const len2 = bx * bx + by * by;
        const t = len2 > 0 ? Math.min(Math.max(((px - ax) * bx + (py - ay) * by) / len2, 0), 1) : 0;
        const ex = px - ax - t * bx, ey = py - ay - t * by;
        const d2 = ex * ex + ey * ey;
        if (d2 < best) best = d2, along = (s + t) / n;
      }
      const taper = Math.pow(Math.sin(Math.PI * Math.min(Math.max(along, 0.02), 0.98)), 0.5);
      const coverage = Math.min(Math.max(halfWidth * taper + 0.5 - Math.sqrt(best), 0), 1);
      if (coverage <= 0) continue;
      // A few low-frequency sines make the stroke fade and return, never quite vanish.
      let wave = 0;
      for (let k = 0; k < breaks.length; k++) {
        wave += Math.sin(along * (k + 2) * 3 + breaks[k]) / breaks.length;
      }
      const a = coverage * strength * (0.7 + 0.3 * Math.max(-1, Math.min(1, wave * 2)));
      const i = y * layer.width + x;
      if (a > layer.alpha[i]) layer.alpha[i] = a;
    }
  }
}
