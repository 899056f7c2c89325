/**
 * Verdict figures at a threshold and the calibration gap, on scores with known answers.
 */
import assert from "node:assert/strict";
import { verdictMetrics } from "../../src/eval/calibration_gap.ts";

Deno.test("verdictMetrics() counts a score equal to the threshold as anomalous, as the service does", () => {
  const m = verdictMetrics([1, 2, 3, 4], [0, 0, 1, 1], 3);
  assert.deepEqual(m, {
    falseRejectRate: 0,
    missRate: 0,
    balancedError: 0,
    oracleBalancedError: 0,
    calibrationGap: 0,
  });
  assert.equal(verdictMetrics([1, 2, 3, 4], [0, 0, 1, 1], 3.5).missRate, 0.5);
});

Deno.test("verdictMetrics() finds the oracle over every threshold, ties included", () => {
  // good 0,1,2,3 ; defective 2,2,4,5 → best: threshold 4 (FRR 0, miss 0.5) or 2 (FRR 0.5, miss 0): 0.25
  const scores = [0, 1, 2, 3, 2, 2, 4, 5], labels = [0, 0, 0, 0, 1, 1, 1, 1];
  const m = verdictMetrics(scores, labels, 10);
  assert.equal(m.balancedError, 0.5);
  assert.equal(m.oracleBalancedError, 0.25);
  assert.equal(m.calibrationGap, 0.25);
  // Reversed scores: the best is the trivial threshold (balanced error 0.5), never below it.
  const r = verdictMetrics(scores.map((s) => -s), labels, -1.5);
  assert.equal(r.oracleBalancedError, 0.5);
  assert.ok(r.calibrationGap >= 0);
  assert.throws(() => verdictMetrics([1, 2], [0, 0], 1), RangeError);
  assert.throws(() => verdictMetrics([1, 2], [0], 1), RangeError);
});
