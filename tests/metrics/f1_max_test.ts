/**
 * F1-max against hand-worked threshold sweeps and a brute-force sweep on random data with ties.
 */
import assert from "node:assert/strict";
import { f1Max } from "../../src/metrics/f1_max.ts";
import { ConfigError, ShapeError } from "../../src/errors.ts";
import { tiedScores } from "../eval/_random.ts";

const TOL = 1e-9;

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= TOL, `${what}: got ${actual}, expected ${expected}`);
}

Deno.test("f1Max() matches the hand-worked sweep without ties", () => {
  // Thresholds 0.8: TP 1 FP 0 → 2/3; 0.4: TP 1 FP 1 → 1/2; 0.35: TP 2 FP 1 → 4/5; 0.1: TP 2 FP 2 → 2/3.
  near(f1Max([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 4 / 5, "no ties");
});

Deno.test("f1Max() calls tied items together", () => {
  // 0.5 holds one anomaly and two normals: TP 1 FP 2 → 2/5; at 0.2 everything: TP 2 FP 2 → 2/3.
  near(f1Max([0.5, 0.5, 0.5, 0.2], [1, 0, 0, 1]), 2 / 3, "a tie across classes");
  near(f1Max([1, 1, 1], [1, 1, 0]), 4 / 5, "all tied");
  near(f1Max([0.3, 0.7], [true, false]), 2 / 3, "inverted, best is calling everything");
  near(f1Max([2, 1], [1, 1]), 1, "no normals");
});

Deno.test("f1Max() takes float32 pixel maps, −0 and +0 as one value", () => {
  // An anomaly at +0 and a normal at −0 are one threshold: TP 1, FP 1 → 2/3 (1 if they were split).
  near(f1Max(Float32Array.of(0, -0), Uint8Array.of(1, 0)), 2 / 3, "signed zeros");
  // Thresholds 0.5: TP 1 FP 0 → 2/3; 0: TP 2 FP 1 → 4/5; −1: TP 2 FP 2 → 2/3.
  near(f1Max(Float32Array.of(-0, 0, 0.5, -1), Uint8Array.of(1, 0, 1, 0)), 4 / 5, "mixed");
});

Deno.test("f1Max() equals a brute-force sweep over every distinct score on random data", () => {
  for (const [seed, n, levels] of [[11, 80, 4], [12, 300, 25], [13, 64, 1000]]) {
    const { scores, labels } = tiedScores(seed, n, { levels });
    const positives = labels.reduce((a, b) => a + b, 0);
    let best = 0;
    for (const t of new Set(scores)) {
      let tp = 0, fp = 0;
      scores.forEach((s, i) => {
        if (s >= t) labels[i] ? tp++ : fp++;
      });
      best = Math.max(best, (2 * tp) / (2 * tp + fp + (positives - tp)));
    }
    near(f1Max(scores, labels), best, `seed ${seed}`);
    near(f1Max(Float32Array.from(scores), labels), best, `seed ${seed} as float32`);
  }
});

Deno.test("f1Max() refuses mismatched lengths, bad labels, NaN and no anomalies", () => {
  assert.throws(() => f1Max([1, 2], [1]), ShapeError);
  assert.throws(() => f1Max([1, 2], [1, 2]), ConfigError);
  assert.throws(() => f1Max([NaN, 2], [1, 0]), ConfigError);
  assert.throws(() => f1Max([1, 2], [0, 0]), /at least one anomalous/);
});
