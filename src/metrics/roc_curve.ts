/**
 * The ROC curve itself (for plots): one point per distinct score, items with equal scores called
 * together, from (0, 0) to (1, 1). Its trapezoidal area is the AUROC with ties counted one half.
 *
 * @module
 */
import { ConfigError } from "../errors.ts";
import { binaryLabels, sortedByClass } from "./_check.ts";
import { keyValue } from "./_sort.ts";

/** Points of a ROC curve, by decreasing threshold. */
export interface RocCurve {
  /** False-positive rates, from 0 to 1. */
  fpr: Float64Array;
  /** True-positive rates, from 0 to 1. */
  tpr: Float64Array;
  /** The threshold of each point (score ≥ threshold is called anomalous); +Infinity for (0, 0). */
  thresholds: Float64Array;
}

/**
 * The ROC curve of scores against labels.
 *
 * @param scores one score per item; higher means more anomalous
 * @param labels 1 (or true) for anomalous, 0 (or false) for normal
 * @returns the curve's points
 * @throws {ShapeError} when the lengths differ
 * @throws {ConfigError} when a score is NaN, a label is not 0/1, or a class is empty
 *
 * @example A tie across the classes is one diagonal step
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * const roc = rocCurve([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]);
 * deepStrictEqual([...roc.fpr], [0, 0, 0.5, 1]);
 * deepStrictEqual([...roc.tpr], [0, 0.5, 1, 1]);
 * ```
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): RocCurve {
  const flags = binaryLabels(scores, labels);
  const { pos, neg, float32 } = sortedByClass(scores, flags);
  if (pos.length === 0 || neg.length === 0) {
    throw new ConfigError(
      `A ROC curve needs both classes: got ${pos.length} anomalous and ${neg.length} normal`,
    );
  }
  const fpr = [0], tpr = [0], thresholds = [Infinity];
  let p = pos.length - 1, n = neg.length - 1, tp = 0, fp = 0;
  while (p >= 0 || n >= 0) {
    const v = p < 0 || (n >= 0 && neg[n] > pos[p]) ? neg[n] : pos[p];
    for (; p >= 0 && pos[p] === v; p--) tp++;
    for (; n >= 0 && neg[n] === v; n--) fp++;
    fpr.push(fp / neg.length);
    tpr.push(tp / pos.length);
    thresholds.push(float32 ? keyValue(v) : v);
  }
  return {
    fpr: Float64Array.from(fpr),
    tpr: Float64Array.from(tpr),
    thresholds: Float64Array.from(thresholds),
  };
}
