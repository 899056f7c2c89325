/**
 * Input checks shared by the metrics, so that every metric refuses the same mistakes with the same
 * messages.
 *
 * @module
 */
import { ConfigError, ShapeError } from "../errors.ts";
import { float32Bits, floatKey, radixSort } from "./_sort.ts";

/** Labels as 0/1 bytes; throws on a length mismatch, a label other than 0/1, or a NaN score. */
export function binaryLabels(
  scores: ArrayLike<number>,
  labels: ArrayLike<number | boolean>,
): Uint8Array {
  if (scores.length !== labels.length) {
    throw new ShapeError(`Scores and labels differ in length: ${scores.length} vs ${labels.length}`);
  }
  const flags = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l === 1 || l === true) flags[i] = 1;
    else if (l !== 0 && l !== false) throw new ConfigError(`Label ${i} is not 0 or 1: got ${l}`);
    if (Number.isNaN(scores[i])) throw new ConfigError(`Score ${i} is NaN`);
  }
  return flags;
}

/**
 * The scores of each class, sorted ascending. Float32 input is sorted as order-preserving uint32 keys
 * (radix; pixel maps are large), which compare and tie exactly as the values do; anything else is
 * compared in float64, so that no two image scores are merged.
 */
export function sortedByClass(
  scores: ArrayLike<number>,
  flags: Uint8Array,
): { pos: Uint32Array | Float64Array; neg: Uint32Array | Float64Array; float32: boolean } {
  let positives = 0;
  for (let i = 0; i < flags.length; i++) positives += flags[i];
  const negatives = flags.length - positives;
  if (scores instanceof Float32Array) {
    const bits = float32Bits(scores);
    const pos = new Uint32Array(positives), neg = new Uint32Array(negatives);
    for (let i = 0, p = 0, n = 0; i < flags.length; i++) {
      if (flags[i]) pos[p++] = floatKey(bits[i]);
      else neg[n++] = floatKey(bits[i]);
    }
    return { pos: radixSort(pos).keys, neg: radixSort(neg).keys, float32: true };
  }
  const pos = new Float64Array(positives), neg = new Float64Array(negatives);
  for (let i = 0, p = 0, n = 0; i < flags.length; i++) {
    if (flags[i]) pos[p++] = scores[i];
    else neg[n++] = scores[i];
  }
  return { pos: pos.sort(), neg: neg.sort(), float32: false };
}
