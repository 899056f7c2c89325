/**
 * AUPRO against hand-worked PRO curves (to 1e-9) and against a slow independent implementation
 * (a threshold loop over every distinct score, its own region labelling) on random maps with ties.
 */
import assert from "node:assert/strict";
import { aupro } from "../../src/metrics/aupro.ts";
import { ConfigError, ShapeError } from "../../src/errors.ts";
import { Random } from "../../src/random.ts";

const TOL = 1e-9;

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: got ${actual}, expected ${expected}`);
}

// Two 5×1 maps. Image 1 is good. Image 2's mask [1 1 0 0 1] has regions R1 = {0, 1}, R2 = {4};
// seven defect-free pixels in all.
const SCORES = Float32Array.of(0.1, 0.2, 0.3, 0.4, 0.5, 0.9, 0.45, 0.6, 0.05, 0.35);
const MASKS = Uint8Array.of(0, 0, 0, 0, 0, 1, 1, 0, 0, 255);

Deno.test("aupro() matches the hand-worked curve, cut at FPR 0.3 with the PRO interpolated", () => {
  // Points: (0, 0) → 0.9: (0, ¼) → 0.6: (1/7, ¼) → 0.5: (2/7, ¼) → 0.45: (2/7, ½) → 0.4: (3/7, ½).
  // Area to 0.3: ¼·2/7 + ½·(0.3 − 2/7) = 0.15 − 1/14; over 0.3: 11/42.
  near(aupro(SCORES, MASKS, { width: 5, height: 1 }), 11 / 42, "limit 0.3");
  near(aupro(SCORES, MASKS, { sizes: [{ width: 5, height: 1 }, { width: 5, height: 1 }] }), 11 / 42, "sizes");
});

Deno.test("aupro() over the whole curve is the plain trapezoid", () => {
  // On from (3/7, ½): 0.35 → (3/7, 1), then FPR rises to 1 at PRO 1. Area: ¼·2/7 + ½·1/7 + 4/7 = 5/7.
  near(aupro(SCORES, MASKS, { width: 5, height: 1, maxFpr: 1 }), 5 / 7, "limit 1");
  // Ending exactly on a point: to FPR 2/7 the area is ¼·2/7, normalised ¼.
  near(aupro(SCORES, MASKS, { width: 5, height: 1, maxFpr: 2 / 7 }), 1 / 4, "limit on a point");
});

Deno.test("aupro() joins diagonal neighbours into one region (8-connectivity) and ties move together", () => {
  // 4×4, defects at (0,0), (1,1) (one diagonal region of 2) and (3,3) (a region of 1). Scores 0.9,
  // 0.2, 0.9; one defect-free pixel at 0.5, twelve at 0.1. Curve: (0, ¾), (1/13, ¾), (1/13, 1), (1, 1).
  // To 0.3: ¾/13 + (0.3 − 1/13) = 0.3 − ¼/13, normalised 73/78. Three regions of one would give 2/3 at
  // the start and 1 − 10/117 instead.
  const scores = new Float32Array(16).fill(0.1);
  const masks = new Uint8Array(16);
  [[0, 0.9], [5, 0.2], [15, 0.9]].forEach(([i, s]) => (masks[i] = 1, scores[i] = s));
  scores[2] = 0.5;
  near(aupro(scores, masks, { width: 4, height: 4 }), 73 / 78, "diagonal region");
  // A defect-free pixel tied with a defect pixel: one point, a diagonal segment.
  // 3×3 with defects (0,0) = 0.8, (1,1) = 0.5 (one region), a defect-free 0.5, six at 0.1:
  // (0, ½) → (1/7, 1) → (1, 1); to 0.3: ¾/7 + (0.3 − 1/7), normalised 37/42.
  const tied = Float32Array.of(0.8, 0.1, 0.5, 0.1, 0.5, 0.1, 0.1, 0.1, 0.1);
  near(aupro(tied, Uint8Array.of(1, 0, 0, 0, 1, 0, 0, 0, 0), { width: 3, height: 3 }), 37 / 42, "tie");
});

Deno.test("aupro() is 1 for a perfect map and equals a slow reference on random maps with ties", () => {
  near(
    aupro(Float32Array.of(0.9, 0.1, 0.2, 0.3), Uint8Array.of(1, 0, 0, 0), { width: 2, height: 2 }),
    1,
    "perfect",
  );
  const random = new Random(99);
  for (let trial = 0; trial < 4; trial++) {
    const sizes = [{ width: 13, height: 9 }, { width: 7, height: 11 }, { width: 10, height: 10 }];
    const total = sizes.reduce((a, s) => a + s.width * s.height, 0);
    const masks = new Uint8Array(total), scores = new Float32Array(total);
    for (let i = 0; i < total; i++) {
      masks[i] = random.next() < 0.2 ? 1 : 0;
      scores[i] = (random.int(0, 9) + masks[i] * random.int(0, 4)) / 10;
    }
    for (const maxFpr of [0.3, 0.05, 1]) {
      near(
        aupro(scores, masks, { sizes, maxFpr }),
        slowAupro(scores, masks, sizes, maxFpr),
        `trial ${trial}`,
      );
    }
  }
});

Deno.test("aupro() refuses masks without defects, sizes that do not fit, NaN and a bad limit", () => {
  const size = { width: 2, height: 1 };
  assert.throws(() => aupro(Float32Array.of(1, 2), Uint8Array.of(0, 0), size), /at least one defect pixel/);
  assert.throws(() => aupro(Float32Array.of(1, 2), Uint8Array.of(1, 1), size), /defect-free pixels/);
  assert.throws(() => aupro(Float32Array.of(1, 2, 3), Uint8Array.of(1, 0, 0), size), ShapeError);
  assert.throws(() => aupro(Float32Array.of(1, 2), Uint8Array.of(1), size), ShapeError);
  assert.throws(() => aupro(Float32Array.of(NaN, 2), Uint8Array.of(1, 0), size), ConfigError);
  assert.throws(() => aupro(Float32Array.of(1, 2), Uint8Array.of(1, 0), { ...size, maxFpr: 0 }), ConfigError);
});

/**
 * The definition spelt out: union-find regions, then at every distinct threshold (descending) the
 * FPR and the mean per-region overlap counted from scratch, then MVTec's trapezoid with its
 * interpolated last segment.
 */
function slowAupro(
  scores: Float32Array,
  masks: Uint8Array,
  sizes: { width: number; height: number }[],
  maxFpr: number,
): number {
  const region = new Int32Array(scores.length).fill(-1);
  let regions = 0, at = 0;
  for (const { width, height } of sizes) {
    const parent = Array.from({ length: width * height }, (_, i) => i);
    const root = (i: number): number => (parent[i] === i ? i : (parent[i] = root(parent[i])));
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!masks[at + y * width + x]) continue;
        for (const [dx, dy] of [[1, 0], [0, 1], [1, 1], [-1, 1]]) {
          const nx = x + dx, ny = y + dy;
          if (nx < 0 || nx >= width || ny >= height || !masks[at + ny * width + nx]) continue;
          parent[root(ny * width + nx)] = root(y * width + x);
        }
      }
    }
    const ids = new Map<number, number>();
    for (let i = 0; i < width * height; i++) {
      if (!masks[at + i]) continue;
      const r = root(i);
      if (!ids.has(r)) ids.set(r, regions++);
      region[at + i] = ids.get(r)!;
    }
    at += width * height;
  }
  const regionSize = new Array(regions).fill(0);
  let ok = 0;
  for (let i = 0; i < scores.length; i++) region[i] >= 0 ? regionSize[region[i]]++ : ok++;
  const xs = [0], ys = [0];
  for (const t of [...new Set(scores)].sort((a, b) => b - a)) {
    let fp = 0;
    const hit = new Array(regions).fill(0);
    for (let i = 0; i < scores.length; i++) {
      if (scores[i] < t) continue;
      region[i] >= 0 ? hit[region[i]]++ : fp++;
    }
    xs.push(fp / ok);
    ys.push(hit.reduce((a, h, r) => a + h / regionSize[r], 0) / regions);
  }
  let area = 0;
  for (let i = 1; i < xs.length; i++) {
    if (xs[i] <= maxFpr) {
      area += ((xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1])) / 2;
      continue;
    }
    if (xs[i - 1] < maxFpr) {
      const y = ys[i - 1] + ((ys[i] - ys[i - 1]) * (maxFpr - xs[i - 1])) / (xs[i] - xs[i - 1]);
      area += ((maxFpr - xs[i - 1]) * (y + ys[i - 1])) / 2;
    }
    break;
  }
  return area / maxFpr;
}
