/**
 * The ADP text score (eq. 7): how anomalous a frame looks to the text branch, from its unit-norm
 * CLIP image feature and the station's normal and anomalous prototypes. Enrollment's self-tuning
 * and calibration and the scorer all compute it here.
 *
 * @module
 */
import { normalProbability } from "./concept_loss.ts";

/**
 * The ADP text score (eq. 7): P(anomalous | x) = 1 − P_n for unit-norm image features [n, E].
 *
 * @param features unit-norm image features, n rows of E
 * @param prototypeNormal p_n [E], unit norm
 * @param prototypeAnomalous p_a [E], unit norm
 * @param logitScale the model's logit scale (exp of the checkpoint's log scale)
 * @returns one score in [0, 1] per image
 */
export function textAnomalyScores(
  features: ArrayLike<number>,
  prototypeNormal: ArrayLike<number>,
  prototypeAnomalous: ArrayLike<number>,
  logitScale: number,
): Float64Array {
  return normalProbability(features, prototypeNormal, prototypeAnomalous, logitScale).map((p) => 1 - p);
}
