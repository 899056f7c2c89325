/**
 * Area under the ROC curve for image scores and for pixel maps, exact with ties.
 *
 * AUROC is the probability that a random anomalous item scores above a random normal one, ties
 * counting one half (the Mann–Whitney U statistic over P·N, which is what rank averaging gives).
 * Both classes are sorted separately (float32 maps by the radix sort of `_sort.ts`) and merged once,
 * so a pixel evaluation over tens of millions of values costs two linear sorts and one pass,
 * and every tie is resolved exactly: the count is kept in integers (doubled, so halves stay whole)
 * and divided once at the end.
 *
 * @module
 */
import { ConfigError, ShapeError } from "../errors.ts";
import { binaryLabels } from "./_check.ts";
import { float32Bits, floatKey, radixSort } from "./_sort.ts";

/**
 * Image-level AUROC.
 *
 * @param scores one anomaly score per image; higher means more anomalous
 * @param labels 1 (or true) for anomalous, 0 (or false) for normal, one per score
 * @returns the AUROC in [0, 1], ties counted as one half
 * @throws {ShapeError} when the lengths differ
 * @throws {ConfigError} when a score is NaN, a label is not 0/1, or a class is empty
 *
 * @example One anomaly tied with one of two normals
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * strictEqual(imageAuroc([0.1, 0.5, 0.5], [0, 0, 1]), 0.75);
 * ```
 */
export function imageAuroc(scores: ArrayLike<number>, labels: ArrayLike<number | boolean>): number {
  return aurocByClass(Float64Array.from(scores), binaryLabels(scores, labels));
}

/**
 * Pixel-level AUROC over any number of pixels (all test images' maps laid end to end).
 *
 * @param scores one anomaly score per pixel
 * @param labels 1 where the ground-truth mask marks a defect, 0 elsewhere, one per pixel
 * @returns the AUROC in [0, 1], ties counted as one half
 * @throws {ShapeError} when the lengths differ
 * @throws {ConfigError} when a score is NaN, a label is not 0/1, or a class is empty
 *
 * @example A four-pixel map with a tie across the classes
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * const auc = pixelAuroc(Float32Array.of(0, 1, 1, 2), Uint8Array.of(0, 0, 1, 1));
 * strictEqual(auc, 0.875);
 * ```
 */
export function pixelAuroc(scores: Float32Array, labels: Uint8Array): number {
  if (scores.length !== labels.length) {
    throw new ShapeError(`Scores and labels differ in length: ${scores.length} vs ${labels.length}`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] > 1) throw new ConfigError(`Label ${i} is not 0 or 1: got ${labels[i]}`);
  }
  return aurocByClass(scores, labels);
}

/**
 * Splits by label, sorts each class, and counts (doubled) wins and ties in one merge. Scores become
 * order-preserving uint32 keys (float bits with the sign folded; −0 taken as +0 so that key equality
 * is score equality) sorted by a three-pass radix sort: linear in the pixel count, where a comparison
 * sort of 25 million floats takes seconds.
 */
function aurocByClass(scores: Float32Array | Float64Array, labels: Uint8Array): number {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    if (Number.isNaN(scores[i])) throw new ConfigError(`Score ${i} is NaN`);
    positives += labels[i];
  }
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) {
    throw new ConfigError(
      `AUROC needs both classes: got ${positives} anomalous and ${negatives} normal items`,
    );
  }
  if (scores instanceof Float64Array) {
    const pos = new Float64Array(positives), neg = new Float64Array(negatives);
    split(scores, labels, pos, neg);
    return countWins(pos.sort(), neg.sort()) / (2 * positives * negatives);
  }
  const pos = new Float32Array(positives), neg = new Float32Array(negatives);
  split(scores, labels, pos, neg);
  return countWins(sortKeys(pos), sortKeys(neg)) / (2 * positives * negatives);
}

/** Float32 scores as ascending order-preserving keys: same order, same ties. */
function sortKeys(values: Float32Array): Uint32Array {
  return radixSort(Uint32Array.from(float32Bits(values), floatKey)).keys;
}

function split<T extends Float32Array | Float64Array>(scores: T, labels: Uint8Array, pos: T, neg: T): void {
  for (let i = 0, p = 0, n = 0; i < labels.length; i++) {
    if (labels[i]) pos[p++] = scores[i];
    else neg[n++] = scores[i];
  }
}

/** Σ over positives of 2·#(negatives below) + #(negatives equal), both inputs sorted ascending. */
function countWins(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  let twiceWins = 0;
  let below = 0; // negatives strictly below the current value
  for (let i = 0; i < pos.length;) {
    const v = pos[i];
    let run = 1;
    while (i + run < pos.length && pos[i + run] === v) run++;
    while (below < neg.length && neg[below] < v) below++;
    let upTo = below;
    while (upTo < neg.length && neg[upTo] === v) upTo++;
    twiceWins += run * (2 * below + (upTo - below));
    i += run;
  }
  return twiceWins;
}
