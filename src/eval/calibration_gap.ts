/**
 * How good a calibrated threshold is on a test set: the false-reject and miss rates there, their
 * mean (the balanced error), the best balanced error any threshold reaches on the same scores (the
 * oracle, which no station can know), and the difference, the *calibration gap*. A frame is
 * anomalous when its score is at or above the threshold, as in the service. Pure.
 *
 * @module
 */

/** Verdict figures of one threshold on one test set. */
export interface VerdictMetrics {
  /** Good test images at or above the threshold, as a share of the good ones. */
  falseRejectRate: number;
  /** Defective test images below the threshold, as a share of the defective ones. */
  missRate: number;
  /** (falseRejectRate + missRate) / 2. */
  balancedError: number;
  /** The smallest balanced error over every threshold. */
  oracleBalancedError: number;
  /** balancedError − oracleBalancedError (≥ 0). */
  calibrationGap: number;
}

/**
 * The verdict figures of `threshold` on scores with labels (1 = defective).
 *
 * @param scores one score per test image
 * @param labels 1 for defective, 0 for good; both classes present
 * @param threshold anomalous when score ≥ threshold
 * @throws {RangeError} when the lengths differ or a class is missing
 *
 * @example Perfectly separated scores and a threshold too high
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const m = verdictMetrics([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 0.85);
 * strictEqual(m.missRate, 0.5);
 * strictEqual(m.oracleBalancedError, 0);
 * strictEqual(m.calibrationGap, 0.25);
 * ```
 */
export function verdictMetrics(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold: number,
): VerdictMetrics {
  if (scores.length !== labels.length) {
    throw new RangeError(`${scores.length} scores for ${labels.length} labels`);
  }
  const n = scores.length;
  let good = 0, bad = 0, rejected = 0, missed = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i]) {
      bad++;
      if (!(scores[i] >= threshold)) missed++;
    } else {
      good++;
      if (scores[i] >= threshold) rejected++;
    }
  }
  if (!good || !bad) throw new RangeError("Verdict metrics need good and defective test images");
  const falseRejectRate = rejected / good, missRate = missed / bad;
  const balancedError = (falseRejectRate + missRate) / 2;
  // Sweep: thresholds just at each score (descending) and above all of them.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let best = 0.5; // above every score: no false rejects, every defect missed
  let goodAbove = 0, badAbove = 0;
  for (let r = 0; r < n;) {
    const value = scores[order[r]];
    while (r < n && scores[order[r]] === value) {
      if (labels[order[r]]) badAbove++;
      else goodAbove++;
      r++;
    }
    const be = (goodAbove / good + (bad - badAbove) / bad) / 2;
    if (be < best) best = be;
  }
  return {
    falseRejectRate,
    missRate,
    balancedError,
    oracleBalancedError: best,
    calibrationGap: balancedError - best,
  };
}
