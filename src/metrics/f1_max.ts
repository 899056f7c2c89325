/**
 * F1-max: the best F1 score over every decision threshold, for image scores or pixel maps.
 *
 * An item is called anomalous when its score is at or above the threshold, so items with equal
 * scores are always called together; the candidate thresholds are exactly the distinct scores.
 * F1 = 2·TP / (2·TP + FP + FN) is evaluated from integer counts at each of them, so ties cost no
 * accuracy and the only rounding is the final division.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { binaryLabels, sortedByClass } from "./_check.ts";

/**
 * The largest F1 score over all thresholds.
 *
 * @param scores one score per item (image or pixel); higher means more anomalous. A Float32Array
 *   is sorted as float32 (pixel maps); any other input is compared in float64.
 * @param labels 1 (or true) for anomalous, 0 (or false) for normal, one per score
 * @returns F1-max in (0, 1]
 * @throws {ShapeError} when the lengths differ
 * @throws {ConfigError} when a score is NaN, a label is not 0/1, or no item is anomalous
 *
 * @example Two normals and two anomalies, one of each tied
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * // Threshold 0.9: TP 1, FP 0, FN 1 → 2/3. Threshold 0.5: TP 2, FP 1 → 4/5. Threshold 0.1: 4/6.
 * strictEqual(f1Max([0.1, 0.5, 0.5, 0.9], [0, 0, 1, 1]), 0.8);
 * ```
 */
export function f1Max(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  const flags = binaryLabels(scores, labels);
  const { pos, neg } = sortedByClass(scores, flags);
  const positives = pos.length;
  if (positives === 0) throw new ConfigError("F1 needs at least one anomalous item: got none");
  let best = 0;
  // Descending over the distinct scores of both classes; tp, fp count the items at or above v.
  let p = pos.length - 1, n = neg.length - 1, tp = 0, fp = 0;
  while (p >= 0) {
    const v = n >= 0 && neg[n] > pos[p] ? neg[n] : pos[p];
    for (; p >= 0 && pos[p] === v; p--) tp++;
    for (; n >= 0 && neg[n] === v; n--) fp++;
    const f1 = (2 * tp) / (tp + fp + positives);
    if (f1 > best) best = f1;
  }
  return best;
}
