/**
 * Fusion calibration on hand-worked scores: the text branch gets weight only for evidence beyond
 * the patch branch, and the threshold sits above every held-out normal.
 */
import assert from "node:assert/strict";
import {
  calibrateFusion,
  calibrateThreshold,
  fuseScores,
  SINGLE_SHOT_SPREAD_FLOOR,
  TEXT_EVIDENCE,
} from "../../src/adp/fusion.ts";

const normals = [
  { patch: 0.1, text: 0.5 },
  { patch: 0.2, text: 0.4 },
  { patch: 0.3, text: 0.6 },
  { patch: 0.2, text: 0.5 },
];

Deno.test("calibrateFusion() standardises each branch by the held-out normals' mean and sample deviation", () => {
  const f = calibrateFusion(normals, []);
  // Deviations −0.1, 0, 0.1, 0 → sample variance 0.02 / 3 for both branches.
  const sd = Math.sqrt(0.02 / 3);
  assert.ok(Math.abs(f.patchMean - 0.2) < 1e-12 && Math.abs(f.patchStd - sd) < 1e-12);
  assert.ok(Math.abs(f.textMean - 0.5) < 1e-12 && Math.abs(f.textStd - sd) < 1e-12);
  assert.equal(f.textWeight, 0);
  assert.ok(Math.abs(fuseScores({ patch: 0.2 + 3 * sd, text: 0 }, f) - 3) < 1e-12);
});

Deno.test("calibrateFusion() gives the text branch no weight when it only ties the patch branch", () => {
  // Patch alone separates perfectly (AUROC 1): the text branch, also perfect, adds nothing.
  const anomalies = [{ patch: 0.9, text: 0.9 }, { patch: 0.8, text: 0.95 }];
  assert.equal(calibrateFusion(normals, anomalies).textWeight, 0);
});

Deno.test("calibrateFusion() weighs the text branch in when it adds more than TEXT_EVIDENCE", () => {
  // Patch alone: normals 0.1, 0.2, 0.2, 0.3; anomalies 0.25 (above three) and 0.35 (above all four)
  // → AUROC 7 / 8. Text separates both; mixing it in lifts the AUROC to 1.
  const anomalies = [{ patch: 0.25, text: 0.9 }, { patch: 0.35, text: 0.9 }];
  const f = calibrateFusion(normals, anomalies);
  assert.ok(f.textWeight > 0, JSON.stringify(f));
  assert.ok(TEXT_EVIDENCE < 1 - 7 / 8);
  // The same evidence from three normals is not enough to decide on.
  assert.equal(calibrateFusion(normals.slice(0, 3), anomalies).textWeight, 0);
});

Deno.test("calibrateThreshold() is max(3σ, highest held-out normal + 0.5σ) in standardised units", () => {
  const f = calibrateFusion(normals, []);
  // Standardised normals: at most 0.1 / 0.0816 = 1.22 → max + 0.5 < 3.
  assert.equal(calibrateThreshold(normals, [], f).threshold, 3);
  // Fifteen at 0.2 and one at 1.0: mean 0.25, sample deviation 0.2, the outlier at 3.75σ.
  const outlier = [...Array.from({ length: 15 }, () => ({ patch: 0.2, text: 0.5 })), { patch: 1, text: 0.5 }];
  const g = calibrateFusion(outlier, []);
  assert.ok(Math.abs(calibrateThreshold(outlier, [], g).threshold - 4.25) < 1e-9);
});

Deno.test("calibrateFusion() floors the spread at a fraction of the mean: 5%, or the single-shot floor", () => {
  const alike = Array.from({ length: 4 }, () => ({ patch: 0.2, text: 0.4 }));
  const f = calibrateFusion(alike, []);
  assert.ok(Math.abs(f.patchStd - 0.01) < 1e-12 && Math.abs(f.textStd - 0.02) < 1e-12);
  const one = calibrateFusion(alike, [], { spreadFloor: SINGLE_SHOT_SPREAD_FLOOR });
  assert.ok(Math.abs(one.patchStd - 0.2 * SINGLE_SHOT_SPREAD_FLOOR) < 1e-12);
});
