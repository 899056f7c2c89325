/**
 * ROC curve points by hand, and its trapezoidal area against imageAuroc on random data with ties.
 */
import assert from "node:assert/strict";
import { rocCurve } from "../../src/metrics/roc_curve.ts";
import { imageAuroc } from "../../src/metrics/auroc.ts";
import { tiedScores } from "../eval/_random.ts";

Deno.test("rocCurve() has one point per distinct score from (0, 0) to (1, 1)", () => {
  const roc = rocCurve([0.1, 0.4, 0.35, 0.8, 0.4], [0, 0, 1, 1, 1]);
  assert.deepEqual([...roc.thresholds], [Infinity, 0.8, 0.4, 0.35, 0.1]);
  assert.deepEqual([...roc.fpr], [0, 0, 0.5, 0.5, 1]);
  assert.deepEqual([...roc.tpr], [0, 1 / 3, 2 / 3, 1, 1]);
});

Deno.test("rocCurve() encloses exactly the AUROC (ties as diagonal steps)", () => {
  for (const [seed, levels] of [[21, 3], [22, 30]]) {
    const { scores, labels } = tiedScores(seed, 250, { levels });
    const { fpr, tpr } = rocCurve(scores, labels);
    let area = 0;
    for (let i = 1; i < fpr.length; i++) area += ((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1])) / 2;
    assert.ok(Math.abs(area - imageAuroc(scores, labels)) <= 1e-9, `seed ${seed}`);
  }
});
